//! The server's tests against a real HTTPS server, in one test binary (one link instead of eight).

mod common;

mod analysis_health;
mod analytics;
mod approvals;
mod audit;
mod authz;
mod blurs;
mod cases;
mod erasures;
mod exhaustion;
mod extensions;
mod face_events;
mod holds;
mod hostile;
mod integrity;
mod layouts;
mod live_ws;
mod login;
mod login_limits;
mod media;
mod ptz;
mod retention;
mod review;
mod review_ui;
mod schemathesis;
mod search;
mod security;
mod smoke;
mod summary;
