//! Raw audit.log lines.
