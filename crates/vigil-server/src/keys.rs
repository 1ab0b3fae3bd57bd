//! Key files under `data_dir/keys/`: the key store lives in `vigil-keys`; re-exported here for the
//! audit key and its checks.

pub use vigil_keys::{KeyFile, key_id};
