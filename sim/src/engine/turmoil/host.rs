//! What runs on each simulated host: the node's socket and the wrapper around its task.
//!
//! In: the driver loop's future of node `i`. Out: the same future, polled with
//! turmoil-net's current host and the log context set to node `i`, its panic or its
//! end reported to the engine instead of vanishing into a task handle, and its index
//! noted so that the engine collects output only from nodes that ran.
//!
//! What holds: every poll and the drop of a node's task happen with that node's host
//! current — turmoil-net numbers sockets per host, so a socket dropped under another
//! host would close that host's socket.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use dswarm::harness::set_log_context;
use dswarm::live::driver::DatagramSocket;
use dswarm::proto::Time;
use turmoil_net::HostId;

/// A turmoil-net UDP socket, as the live driver's [`DatagramSocket`]; every send
/// raises the engine's flag that some host has something to drain.
///
/// The world routes between IPv4 and IPv6 (every host dual-stack, see
/// [`crate::world`]), but a turmoil-net socket is of one family and refuses the other
/// (`EAFNOSUPPORT`, as a real one would). A datagram to a node of the other family is
/// therefore sent to that node's address of the socket's family
/// ([`dswarm::harness::index_of`] reads both), and the engine routes it to the node's
/// own address ([`super::Turmoil`]'s `route`).
#[derive(Debug)]
pub(super) struct SimSocket {
    pub(super) socket: turmoil_net::shim::tokio::net::UdpSocket,
    pub(super) sent: Arc<AtomicBool>,
    /// The socket's family: IPv6.
    pub(super) v6: bool,
}

impl SimSocket {
    /// `target` in the socket's family: the same node's address of that family when
    /// `target` is a node's of the other; anything else as it is.
    fn in_family(&self, target: SocketAddr) -> SocketAddr {
        if target.is_ipv6() == self.v6 {
            return target;
        }
        let nodes = dswarm::harness::streams::NODES_MAX as usize;
        match dswarm::harness::index_of(target, nodes) {
            Some(node) => {
                let same = match self.v6 {
                    true => dswarm::harness::addr_of_v6(node),
                    false => dswarm::harness::addr_of(node),
                };
                SocketAddr::new(same.ip(), target.port())
            }
            None => target,
        }
    }
}

impl DatagramSocket for SimSocket {
    fn send_to(
        &self,
        buf: &[u8],
        target: SocketAddr,
    ) -> impl Future<Output = io::Result<usize>> + Send {
        self.sent.store(true, Ordering::Relaxed);
        self.socket.send_to(buf, self.in_family(target))
    }

    fn recv_from(
        &self,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + Send {
        self.socket.recv_from(buf)
    }
}

/// How a node's task ended before the engine let it.
pub(super) enum Failure {
    /// It panicked (a failed assertion in the core, say): the payload, to re-raise.
    Panic(usize, Box<dyn Any + Send>),
    /// The driver returned (an error binding the socket, say).
    Exit(usize, io::Result<()>),
}

/// State the engine shares with the node tasks (one thread: `Rc` and cells).
pub(super) struct Shared {
    /// The simulated time of the step being run.
    pub(super) now: Cell<Time>,
    /// Nodes polled since the engine last took the list, each once.
    touched: RefCell<Vec<usize>>,
    marked: Vec<Cell<bool>>,
    /// Nodes that have left: their tasks are never polled again.
    down: Vec<Cell<bool>>,
    /// The first task that ended on its own.
    failure: RefCell<Option<Failure>>,
}

impl Shared {
    pub(super) fn new(nodes: usize) -> Shared {
        Shared {
            now: Cell::new(Time::ZERO),
            touched: RefCell::new(Vec::new()),
            marked: (0..nodes).map(|_| Cell::new(false)).collect(),
            down: (0..nodes).map(|_| Cell::new(false)).collect(),
            failure: RefCell::new(None),
        }
    }

    fn touch(&self, index: usize) {
        if !self.marked[index].replace(true) {
            self.touched.borrow_mut().push(index);
        }
    }

    /// Stops polling node `index`'s task for good: whatever wakes it, it neither
    /// receives, nor sends, nor fires a timer again.
    pub(super) fn set_down(&self, index: usize) {
        self.down[index].set(true);
    }

    /// Lets node `index`'s (new) task be polled again.
    pub(super) fn set_up(&self, index: usize) {
        self.down[index].set(false);
    }

    /// Whether node `index` has left.
    pub(super) fn is_down(&self, index: usize) -> bool {
        self.down[index].get()
    }

    /// Moves the nodes polled since the last call into `out`, by index.
    pub(super) fn take_touched(&self, out: &mut Vec<usize>) {
        out.clear();
        std::mem::swap(&mut *self.touched.borrow_mut(), out);
        out.sort_unstable();
        for &index in out.iter() {
            self.marked[index].set(false);
        }
    }

    /// The first task failure since the last call.
    pub(super) fn take_failure(&self) -> Option<Failure> {
        self.failure.borrow_mut().take()
    }

    fn fail(&self, failure: Failure) {
        let mut slot = self.failure.borrow_mut();
        if slot.is_none() {
            *slot = Some(failure);
        }
    }
}

type NodeFuture = Pin<Box<dyn Future<Output = io::Result<()>>>>;

/// Node `index`'s task on host `host`; see the module docs.
pub(super) struct Hosted {
    host: HostId,
    index: usize,
    shared: Rc<Shared>,
    inner: NodeFuture,
}

impl Hosted {
    pub(super) fn new(
        host: HostId,
        index: usize,
        shared: Rc<Shared>,
        inner: impl Future<Output = io::Result<()>> + 'static,
    ) -> Hosted {
        Hosted {
            host,
            index,
            shared,
            inner: Box::pin(inner),
        }
    }
}

impl Future for Hosted {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.shared.is_down(this.index) {
            // A node that left: the wake (a timer, a datagram) is ignored, and as the
            // inner future is not polled it registers no further wakes.
            return Poll::Pending;
        }
        turmoil_net::set_current(this.host);
        let now = this.shared.now.get();
        set_log_context(now, Some(this.index));
        this.shared.touch(this.index);
        let polled = catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)));
        set_log_context(now, None);
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => {
                this.shared.fail(Failure::Exit(this.index, result));
                Poll::Ready(())
            }
            Err(payload) => {
                this.shared.fail(Failure::Panic(this.index, payload));
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Hosted {
    fn drop(&mut self) {
        // The inner future (and the socket in it) drops right after this, outside any
        // poll: under this host, not the one polled last.
        turmoil_net::set_current(self.host);
    }
}
