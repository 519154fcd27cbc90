//! Streams on a live node: the application's handle ([`LiveStream`]) and the driver's
//! side of it ([`Pipes`]), which turns the handle's requests into the node's stream
//! calls as the node can take them.
//!
//! In: the application's reads, writes, ends and resets (as [`Control`] messages),
//! the node's stream state after every input. Out: bytes and ends to the reads,
//! completions to the writes, accepted streams to the listener.
//!
//! Back-pressure runs end to end: a write completes only when the node's stream took
//! every byte (so a writer faster than the path waits), and the driver reads from the
//! node only for a read that waits (so a slow reader leaves the bytes in the node's
//! window, and the peer stops).

use std::collections::{BTreeMap, VecDeque};

use tokio::sync::{mpsc, oneshot};

use super::driver::Control;
use crate::proto::stream::{Firewall, Read, StreamError, StreamId};
use crate::proto::{Node, NodeId, Time};

/// The most bytes one read hands over.
pub const READ_CHUNK: usize = 64 * 1024;

/// What a read gives: bytes, or `None` at the end of the peer's direction.
pub type ReadResult = Result<Option<Vec<u8>>, StreamError>;

/// What the driver's side of streams asks of the node; see [`Control`].
#[derive(Debug)]
pub enum StreamControl {
    /// Take streams peers open, as the firewall allows; accepted ones go to `accepted`.
    Listen {
        /// Who may open.
        firewall: Firewall,
        /// Where accepted streams go, with their sessions' handshake hashes.
        accepted: mpsc::UnboundedSender<(StreamId, [u8; 32])>,
    },
    /// Open a stream to a peer the node has a session with.
    Open {
        /// The peer.
        peer: NodeId,
        /// The stream and its session's handshake hash, or why not.
        reply: oneshot::Sender<Result<(StreamId, [u8; 32]), StreamError>>,
    },
    /// Wait for bytes (or the end).
    Read {
        /// The stream.
        stream: StreamId,
        /// Where they go.
        reply: oneshot::Sender<ReadResult>,
    },
    /// Write every byte; the reply comes when the node took them all.
    Write {
        /// The stream.
        stream: StreamId,
        /// The bytes.
        bytes: Vec<u8>,
        /// Done, or why not.
        reply: oneshot::Sender<Result<(), StreamError>>,
    },
    /// End this end's direction once every write before it went.
    Finish {
        /// The stream.
        stream: StreamId,
    },
    /// Give up on the stream.
    Reset {
        /// The stream.
        stream: StreamId,
    },
}

/// A stream of a live node, for the application. Every call is a message to the
/// node's driver; dropping the handle leaves the stream as it is (finish or reset it
/// first).
#[derive(Clone, Debug)]
pub struct LiveStream {
    /// The stream.
    pub id: StreamId,
    /// The hash of the session it runs in, the same at both ends
    /// ([`Node::handshake_hash`]).
    pub handshake_hash: [u8; 32],
    control: mpsc::Sender<Control>,
}

impl LiveStream {
    /// A handle on `id`, in a session of `handshake_hash`, of the node behind
    /// `control`.
    pub fn new(
        id: StreamId,
        handshake_hash: [u8; 32],
        control: mpsc::Sender<Control>,
    ) -> LiveStream {
        LiveStream {
            id,
            handshake_hash,
            control,
        }
    }

    async fn ask<T>(
        &self,
        message: impl FnOnce(oneshot::Sender<Result<T, StreamError>>) -> StreamControl,
    ) -> Result<T, StreamError> {
        let (reply, answer) = oneshot::channel();
        let sent = self.control.send(Control::Stream(message(reply))).await;
        match sent {
            Ok(()) => answer.await.unwrap_or(Err(StreamError::PeerLeft)),
            Err(_) => Err(StreamError::PeerLeft),
        }
    }

    /// The next bytes the peer sent, up to [`READ_CHUNK`]; `None` once it ended its
    /// direction and everything was read.
    pub async fn read(&self) -> ReadResult {
        let stream = self.id;
        self.ask(|reply| StreamControl::Read { stream, reply })
            .await
    }

    /// Writes every byte; returns when the node took them all.
    pub async fn write(&self, bytes: Vec<u8>) -> Result<(), StreamError> {
        let stream = self.id;
        self.ask(|reply| StreamControl::Write {
            stream,
            bytes,
            reply,
        })
        .await
    }

    /// Ends this end's direction after what was written.
    pub async fn finish(&self) {
        let stream = self.id;
        let _ = self
            .control
            .send(Control::Stream(StreamControl::Finish { stream }))
            .await;
    }

    /// Gives up on the stream; the peer is told.
    pub async fn reset(&self) {
        let stream = self.id;
        let _ = self
            .control
            .send(Control::Stream(StreamControl::Reset { stream }))
            .await;
    }
}

/// Has the node behind `control` take streams as `firewall` allows; the streams it
/// accepts come out of the returned channel. (What [`super::LiveNode::listen`] does,
/// for any driver.)
pub async fn listen(
    control: &mpsc::Sender<Control>,
    firewall: Firewall,
) -> mpsc::UnboundedReceiver<LiveStream> {
    let (accepted, mut ids) = mpsc::unbounded_channel();
    let (streams, out) = mpsc::unbounded_channel();
    let listen = StreamControl::Listen { firewall, accepted };
    let _ = control.send(Control::Stream(listen)).await;
    let control = control.clone();
    tokio::spawn(async move {
        while let Some((id, hash)) = ids.recv().await {
            if streams
                .send(LiveStream::new(id, hash, control.clone()))
                .is_err()
            {
                return;
            }
        }
    });
    out
}

/// Opens a stream from the node behind `control` to `peer`, with which it has a
/// session. (What [`super::LiveNode::open_stream`] does, for any driver.)
pub async fn open(
    control: &mpsc::Sender<Control>,
    peer: NodeId,
) -> Result<LiveStream, StreamError> {
    let (reply, answer) = oneshot::channel();
    let open = StreamControl::Open { peer, reply };
    if control.send(Control::Stream(open)).await.is_err() {
        return Err(StreamError::PeerLeft);
    }
    let (id, hash) = answer.await.unwrap_or(Err(StreamError::PeerLeft))?;
    Ok(LiveStream::new(id, hash, control.clone()))
}

/// A write under way: its bytes, how many the node took, and who waits.
#[derive(Debug)]
struct Write {
    bytes: Vec<u8>,
    taken: usize,
    reply: oneshot::Sender<Result<(), StreamError>>,
}

/// The driver's side of every stream; see the module docs.
#[derive(Debug, Default)]
pub struct Pipes {
    accepted: Option<mpsc::UnboundedSender<(StreamId, [u8; 32])>>,
    reads: BTreeMap<StreamId, oneshot::Sender<ReadResult>>,
    writes: BTreeMap<StreamId, VecDeque<Write>>,
    /// Streams to end once their writes went.
    finishing: BTreeMap<StreamId, ()>,
    /// Why streams that ended early ended, for requests that come after (the last
    /// [`ENDED_KEPT`]).
    ended: VecDeque<(StreamId, StreamError)>,
}

/// How many early ends [`Pipes`] remembers.
const ENDED_KEPT: usize = 256;

impl Pipes {
    /// A request from the application.
    pub fn on_control(&mut self, node: &mut Node, now: Time, control: StreamControl) {
        match control {
            StreamControl::Listen { firewall, accepted } => {
                node.listen(firewall);
                self.accepted = Some(accepted);
            }
            StreamControl::Open { peer, reply } => {
                let opened = node.open_stream(now, peer);
                let hash = node.handshake_hash(&peer).unwrap_or_default();
                let _ = reply.send(opened.map(|stream| (stream, hash)));
            }
            StreamControl::Read { stream, reply } => match self.ended(stream) {
                Some(error) => {
                    let _ = reply.send(Err(error));
                }
                None => {
                    self.reads.insert(stream, reply);
                }
            },
            StreamControl::Write {
                stream,
                bytes,
                reply,
            } => self.writes.entry(stream).or_default().push_back(Write {
                bytes,
                taken: 0,
                reply,
            }),
            StreamControl::Finish { stream } => {
                self.finishing.insert(stream, ());
            }
            StreamControl::Reset { stream } => {
                let _ = node.stream_reset(now, stream);
                self.drop_stream(
                    stream,
                    StreamError::Reset {
                        code: crate::proto::wire::ResetCode::Cancelled,
                        by_peer: false,
                    },
                );
            }
        }
    }

    /// Why `stream` ended early, if it did.
    fn ended(&self, stream: StreamId) -> Option<StreamError> {
        self.ended
            .iter()
            .find(|(id, _)| *id == stream)
            .map(|(_, error)| *error)
    }

    /// `stream` ended early: whoever waits on it hears why.
    pub fn on_reset(&mut self, stream: StreamId, error: StreamError) {
        self.drop_stream(stream, error);
        if self.ended.len() >= ENDED_KEPT {
            self.ended.pop_front();
        }
        self.ended.push_back((stream, error));
    }

    /// A peer opened a stream the firewall let in, in a session of `hash`: the
    /// listener hears of it.
    pub fn on_accepted(&mut self, stream: StreamId, hash: Option<[u8; 32]>) {
        if let Some(accepted) = &self.accepted {
            let _ = accepted.send((stream, hash.unwrap_or_default()));
        }
    }

    /// Moves what the node can take and give now: waiting writes in, waiting reads
    /// out, ends after writes. Returns whether anything moved.
    pub fn service(&mut self, node: &mut Node, now: Time) -> bool {
        let mut moved = false;
        // Runs after every datagram: a buffer only when a read waits.
        let mut buf = match self.reads.is_empty() {
            true => Vec::new(),
            false => vec![0u8; READ_CHUNK],
        };
        let waiting: Vec<StreamId> = self.reads.keys().copied().collect();
        for stream in waiting {
            let answer = match node.stream_read(now, stream, &mut buf) {
                Ok(Read::Blocked) => continue,
                Ok(Read::Bytes(n)) => Ok(Some(buf[..n].to_vec())),
                Ok(Read::End) => Ok(None),
                Err(error) => Err(error),
            };
            moved = true;
            if let Some(reply) = self.reads.remove(&stream) {
                let _ = reply.send(answer);
            }
        }
        let writing: Vec<StreamId> = self.writes.keys().copied().collect();
        for stream in writing {
            let Some(queue) = self.writes.get_mut(&stream) else {
                continue;
            };
            while let Some(write) = queue.front_mut() {
                match node.stream_write(now, stream, &write.bytes[write.taken..]) {
                    Ok(n) => {
                        moved |= n > 0;
                        write.taken += n;
                        if write.taken < write.bytes.len() {
                            break;
                        }
                        if let Some(done) = queue.pop_front() {
                            let _ = done.reply.send(Ok(()));
                        }
                    }
                    Err(error) => {
                        moved = true;
                        for write in queue.drain(..) {
                            let _ = write.reply.send(Err(error));
                        }
                    }
                }
            }
            if queue.is_empty() {
                self.writes.remove(&stream);
            }
        }
        let ending: Vec<StreamId> = self
            .finishing
            .keys()
            .filter(|stream| !self.writes.contains_key(stream))
            .copied()
            .collect();
        for stream in ending {
            self.finishing.remove(&stream);
            let _ = node.stream_finish(now, stream);
            moved = true;
        }
        moved
    }

    /// Ends every request on `stream` with `error`.
    fn drop_stream(&mut self, stream: StreamId, error: StreamError) {
        if let Some(reply) = self.reads.remove(&stream) {
            let _ = reply.send(Err(error));
        }
        for write in self.writes.remove(&stream).into_iter().flatten() {
            let _ = write.reply.send(Err(error));
        }
        self.finishing.remove(&stream);
    }
}
