//! Running resource agents (OCF) and fence agents as child processes.
