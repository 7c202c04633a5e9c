//! Dev tools, outside the server: the simulated PBX (`switchboard sim`),
//! what `switchboard demo` adds to a server (the simulator's ARI side,
//! demo agents, a stand-in supervisor, stand-in chat customers and voice
//! assistant) and the end-to-end measurement
//! (`switchboard load`). They are behind the `devtools` cargo feature (on
//! by default): `cargo build --release --no-default-features` builds a
//! `switchboard` that only serves, and no server module may name them
//! (`scripts/import-graph --check`).

pub mod demo;
pub mod load;
pub mod sim;
pub mod stand_ins;
