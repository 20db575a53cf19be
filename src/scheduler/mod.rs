//! The policy engine: a pure function from CIB and "now" to a transition graph.
