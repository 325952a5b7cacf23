//! Embedded MSSanté operator: strict SMTP submission + IMAP server with fault injection
#![forbid(unsafe_code)]
