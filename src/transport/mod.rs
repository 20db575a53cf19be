//! The cluster bus: authenticated, encrypted datagrams, reliable ordered
//! delivery, heartbeat membership and quorum.
