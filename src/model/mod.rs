//! The pure model: the CIB as an XML tree and typed views of it.

pub mod cib;
pub mod rules;
pub mod score;
pub mod status;
pub mod time;
pub mod xml;
