//! The security regression suite: one test (or more) per finding of the penetration test of issue 9,
//! each against the real server over HTTPS, written to fail before its fix.

mod audit_chain;
mod details;
mod exports;
mod exposure;
mod mfa;
mod origin;
mod playback;
mod scope;
