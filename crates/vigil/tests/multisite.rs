//! Many sites, one hub: real `vigil run` sites, a real `vigil hub`, a private NATS JetStream server and a
//! fresh PostgreSQL database per test, all on loopback (docs/design/multisite.md).

mod support;

mod multisite {
    mod central;
    pub mod hub_ui;
    pub mod kit;
    mod link;
    mod relay;
    mod sites;
    mod standby;
}
