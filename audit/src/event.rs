//! Raw audit.log parsing (see parse.rs).
