//! The pure model: the CIB as an XML tree and typed views of it.

pub mod xml;
