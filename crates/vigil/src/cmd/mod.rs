//! One module per subcommand.

pub mod analyze;
pub mod analyze_health;
pub mod analyze_identity;
pub mod analyze_rules;
pub mod anomaly;
pub mod audit;
pub mod bench;
pub mod bench_api;
pub mod bench_cameras;
pub mod bench_hostile;
pub mod bench_identity;
pub mod bench_record;
pub mod config;
pub mod count;
pub mod demo;
pub mod erase;
pub mod eval;
pub mod export;
pub mod face;
pub mod hold;
pub mod keys;
pub mod plate;
pub mod run;
pub mod security;
pub mod user;
pub mod verify;
