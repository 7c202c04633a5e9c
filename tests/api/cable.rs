//! A cable on loopback between clients and a server that a test can cut:
//! every connection through it drops at once, as on a lost network, and
//! new ones are refused until it is mended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running cable to one server address.
pub struct Cable {
    /// Where clients connect instead of the server.
    pub address: SocketAddr,
    /// The server it leads to (a load balancer may send it elsewhere).
    target: Arc<parking_lot::Mutex<SocketAddr>>,
    cut: Arc<AtomicBool>,
    /// Bumped on each cut: the connections through the cable end.
    cuts: watch::Sender<u64>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Cable {
    /// A cable to `server`, whole.
    pub async fn to(server: SocketAddr) -> Cable {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("cable binds");
        let address = listener.local_addr().expect("cable address");
        let cut = Arc::new(AtomicBool::new(false));
        let target = Arc::new(parking_lot::Mutex::new(server));
        let (cuts, _) = watch::channel(0u64);
        let accepting = {
            let cut = Arc::clone(&cut);
            let target = Arc::clone(&target);
            let cuts = cuts.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let mut cut_off = cuts.subscribe();
                    let server = *target.lock();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(server).await else {
                            return;
                        };
                        let (mut client, mut server) = (client, server);
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cut_off.changed() => {}
                        }
                    });
                }
            })
        };
        Cable {
            address,
            target,
            cut,
            cuts,
            accepting,
        }
    }

    /// The cable's HTTP URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Drops every connection through the cable and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|cuts| *cuts += 1);
    }

    /// New connections go to `server` from now on (as a load balancer
    /// sends clients to another node when one goes).
    pub fn redirect(&self, server: SocketAddr) {
        *self.target.lock() = server;
    }

    /// Lets connections through again.
    pub fn mend(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Cable {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}
