//! The gateway's Socket.IO adapter: socketioxide's in-memory rooms, plus a
//! way for the fan-out to send one already serialized event to one socket.
//!
//! socketioxide serializes an event per call of `SocketRef::emit`, so
//! sending one event to a thousand sockets one by one wrote its JSON a
//! thousand times. A room broadcast writes it once but cannot say which
//! sockets were too full to take it, and the gateway tells each socket what
//! it lost. [`Sender`] does both: the event is serialized once
//! ([`Sender::event`]) and handed to each socket on its own
//! ([`Sender::send`]), with that socket's own result.

use std::sync::{Arc, OnceLock, Weak};

use serde::Serialize;
use socketioxide::adapter::Emitter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{SocketError, SocketIo};
use socketioxide_core::adapter::{BroadcastOptions, CoreAdapter, CoreLocalAdapter, DefinedAdapter};
use socketioxide_core::packet::Packet;
use socketioxide_core::parser::Parse;

/// The Socket.IO server with the gateway's adapter.
pub type Io = SocketIo<GatewayAdapter>;

/// A connected socket of [`Io`].
pub type Socket = SocketRef<GatewayAdapter>;

/// The acknowledgement callback of an event received on a [`Socket`].
pub type Ack = AckSender<GatewayAdapter>;

/// Broadcast operators of [`Io`].
pub type Operators = BroadcastOperators<GatewayAdapter>;

/// Where the adapter of the default namespace makes itself known to the
/// fan-out once socketioxide has created it.
#[derive(Default)]
pub struct AdapterSlot(OnceLock<Weak<GatewayAdapter>>);

impl AdapterSlot {
    /// A sender for the default namespace; `None` before the namespace is
    /// registered and after the server closed it.
    pub fn sender(&self) -> Option<Sender> {
        self.0.get()?.upgrade().map(Sender)
    }
}

/// socketioxide's local (single-server) adapter, registered in an
/// [`AdapterSlot`].
pub struct GatewayAdapter {
    local: CoreLocalAdapter<Emitter>,
    slot: Arc<AdapterSlot>,
}

impl CoreAdapter<Emitter> for GatewayAdapter {
    type Error = std::convert::Infallible;
    type State = Arc<AdapterSlot>;
    type AckStream = <Emitter as socketioxide_core::adapter::SocketEmitter>::AckStream;
    type InitRes = ();

    fn new(state: &Self::State, local: CoreLocalAdapter<Emitter>) -> Self {
        GatewayAdapter {
            local,
            slot: Arc::clone(state),
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) -> Self::InitRes {
        if self.local.path().as_str() == "/" && self.slot.0.set(Arc::downgrade(&self)).is_err() {
            tracing::warn!("a second default namespace; the fan-out keeps the first");
        }
        on_success();
    }

    async fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<std::time::Duration>,
    ) -> Result<Self::AckStream, Self::Error> {
        Ok(self.local.broadcast_with_ack(packet, opts, timeout).0)
    }

    fn get_local(&self) -> &CoreLocalAdapter<Emitter> {
        &self.local
    }
}

impl DefinedAdapter for GatewayAdapter {}

/// Sends events serialized once to sockets one by one.
pub struct Sender(Arc<GatewayAdapter>);

impl Sender {
    /// The packet of event `name` with `data`, serialized once for every socket.
    pub fn event<T: ?Sized + Serialize>(&self, name: &str, data: &T) -> Option<Packet> {
        let local = &self.0.local;
        match local.parser().encode_value(data, Some(name)) {
            Ok(value) => Some(Packet::event(local.path().clone(), value)),
            Err(error) => {
                tracing::error!(event = name, %error, "event not serializable");
                None
            }
        }
    }

    /// Hands `packet` to socket `sid`'s buffer: `Err(InternalChannelFull)`
    /// when the buffer is full (the socket loses the packet).
    pub fn send(&self, sid: Sid, packet: &Packet) -> Result<(), SocketError> {
        self.0
            .local
            .broadcast(packet.clone(), BroadcastOptions::new(sid))
            .map_err(|mut errors| errors.pop().unwrap_or(SocketError::Closed))
    }
}
