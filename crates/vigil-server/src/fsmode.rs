//! Files and folders readable by their owner only: one home for them in `vigil-keys`, re-exported.

pub use vigil_keys::fsmode::{
    create_private_dir, private_file, replace_private, restrict_to_owner, write_private,
};
