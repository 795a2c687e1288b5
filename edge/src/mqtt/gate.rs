//! The door to the embedded broker. rumqttd routes messages well but checks nothing about who
//! may publish or read what, so it listens on loopback only, behind a password only this
//! process knows, and robots reach it through the gate: plain TCP and/or TLS listeners that
//!
//! - read the client's CONNECT within `connect_timeout` and check its user name and password
//!   against the issued credentials (`Credentials`; anonymous → "not authorised", wrong →
//!   "bad user name or password", both before anything reaches the broker);
//! - check every PUBLISH topic, SUBSCRIBE filter and the last will against `acl` (a refused
//!   publication closes the connection, as MQTT 3.1.1 §3.3.5 allows; a refused subscription
//!   is answered SUBACK failure, 0x80, and never reaches the broker);
//! - frame every packet (rumqttc's codec), so nothing larger than `max_packet_bytes` is read;
//! - close the sessions of a credential the moment it is revoked or replaced.
//!
//! The edge's own client connects to the broker directly, so master control is the only
//! publisher of `order` and `instantActions`.

use super::acl::{self, Identity};
use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4::{ConnAck, ConnectReturnCode, Login, Packet, SubAck, SubscribeReasonCode};
use rumqttc::mqttbytes::{self, PacketType};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tote_shared::runtime::secrets::{same_secret, sha256_hex};
use tote_shared::runtime::supervise::Stop;

/// The credentials robots and observers sign in with: user name → identity and the SHA-256 of
/// the password (issued passwords are long random strings, so a fast hash is right).
pub struct Credentials {
    entries: RwLock<HashMap<String, (Identity, String)>>,
    /// Bumped on every change, so live sessions re-check theirs.
    changed: watch::Sender<u64>,
}

impl Credentials {
    pub fn new(issued: impl IntoIterator<Item = (Identity, String)>) -> Arc<Credentials> {
        let entries = issued.into_iter().map(|(identity, hash)| (identity.username(), (identity, hash))).collect();
        Arc::new(Credentials { entries: RwLock::new(entries), changed: watch::channel(0).0 })
    }

    fn entries(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, (Identity, String)>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self, update: impl FnOnce(&mut HashMap<String, (Identity, String)>)) {
        update(&mut self.entries.write().unwrap_or_else(|p| p.into_inner()));
        self.changed.send_modify(|generation| *generation += 1);
    }

    /// Issues or replaces (the old password's sessions are closed) a credential.
    pub fn put(&self, identity: Identity, secret_sha256: String) {
        self.changed(|entries| {
            entries.insert(identity.username(), (identity, secret_sha256));
        });
    }

    /// Revokes a credential and closes its sessions.
    pub fn remove(&self, username: &str) {
        self.changed(|entries| {
            entries.remove(username);
        });
    }

    /// Who signs in with `login`, and the hash that admitted them.
    fn check(&self, login: Option<&Login>) -> Result<(Identity, String), ConnectReturnCode> {
        let login = login.ok_or(ConnectReturnCode::NotAuthorized)?;
        let offered = sha256_hex(&login.password);
        let entries = self.entries();
        match entries.get(&login.username) {
            Some((identity, hash)) if same_secret(&offered, hash) => Ok((identity.clone(), hash.clone())),
            _ => Err(ConnectReturnCode::BadUserNamePassword),
        }
    }

    fn still_holds(&self, username: &str, hash: &str) -> bool {
        self.entries().get(username).is_some_and(|(_, h)| h == hash)
    }
}

/// What the gate needs to know.
#[derive(Debug, Clone)]
pub struct GateSettings {
    /// The broker behind the gate (loopback) and the login only the edge knows.
    pub upstream: SocketAddr,
    pub upstream_username: String,
    pub upstream_password: String,
    /// Clients connected through the gate at once (plain and TLS together).
    pub max_connections: usize,
    /// From accepting a connection to its CONNECT (the TLS handshake included).
    pub connect_timeout: Duration,
    /// Largest packet a client may send (its remaining length).
    pub max_packet_bytes: usize,
    /// Largest packet the broker passes to a client (orders are bigger than robots' reports).
    pub max_outgoing_packet_bytes: usize,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct GateStats {
    pub connected: AtomicU64,
    pub refused_connects: AtomicU64,
    pub denied_publishes: AtomicU64,
    pub denied_subscriptions: AtomicU64,
    pub closed_malformed: AtomicU64,
    pub closed_revoked: AtomicU64,
}

pub struct Gate {
    pub settings: GateSettings,
    pub credentials: Arc<Credentials>,
    pub stats: GateStats,
    slots: Arc<Semaphore>,
}

/// Why a session ended (logged; none of them is the gate's failure).
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("closed by the peer")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed MQTT: {0}")]
    Malformed(String),
    #[error("no CONNECT within the connect timeout")]
    Slow,
    #[error("connection refused: {0:?}")]
    Refused(ConnectReturnCode),
    #[error("{0}")]
    Denied(acl::Denied),
    #[error("credential revoked or replaced")]
    Revoked,
}

impl Gate {
    pub fn new(settings: GateSettings, credentials: Arc<Credentials>) -> Arc<Gate> {
        let slots = Arc::new(Semaphore::new(settings.max_connections.max(1)));
        Arc::new(Gate { settings, credentials, stats: GateStats::default(), slots })
    }

    /// Accepts on `listener` until `stop`; `tls` makes it an MQTT-over-TLS listener.
    pub async fn serve(self: Arc<Gate>, listener: Arc<TcpListener>, tls: Option<tokio_rustls::TlsAcceptor>, stop: Stop) {
        loop {
            let Some(accepted) = stop.run_until_stopped(listener.accept()).await else { return };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "MQTT accept failed");
                    let _ = stop.run_until_stopped(tokio::time::sleep(Duration::from_millis(50))).await;
                    continue;
                }
            };
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                tracing::warn!(%peer, "MQTT gate full; connection closed");
                self.stats.refused_connects.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (gate, tls) = (self.clone(), tls.clone());
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let ended = match tls {
                    None => gate.session(stream, peer).await,
                    Some(tls) => match tokio::time::timeout(gate.settings.connect_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => gate.session(stream, peer).await,
                        Ok(Err(error)) => Err(End::Malformed(format!("TLS handshake: {error}"))),
                        Err(_) => Err(End::Slow),
                    },
                };
                if let Err(why) = ended {
                    gate.count(&why);
                    tracing::debug!(%peer, %why, "MQTT session ended");
                }
                drop(slot);
            });
        }
    }

    fn count(&self, why: &End) {
        let counter = match why {
            End::Refused(_) => &self.stats.refused_connects,
            End::Denied(acl::Denied::NotItsFilter | acl::Denied::OutsideRobotTopics) => &self.stats.denied_subscriptions,
            End::Denied(_) => &self.stats.denied_publishes,
            End::Malformed(_) | End::Slow => &self.stats.closed_malformed,
            End::Revoked => &self.stats.closed_revoked,
            End::Closed | End::Io(_) => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    async fn session<S: AsyncRead + AsyncWrite + Send + 'static>(self: &Arc<Gate>, stream: S, peer: SocketAddr) -> Result<(), End> {
        let (mut from_client, mut to_client) = tokio::io::split(stream);
        let mut inbox = BytesMut::with_capacity(1024);
        let frame = tokio::time::timeout(self.settings.connect_timeout, read_frame(&mut from_client, &mut inbox, self.settings.max_packet_bytes))
            .await
            .map_err(|_| End::Slow)??;
        let Ok(Packet::Connect(mut connect)) = Packet::read(&mut BytesMut::from(&frame[..]), self.settings.max_packet_bytes) else {
            // Not MQTT 3.1.1 (a v5 client, a v3.1 one, an HTTP request): say so if it is MQTT.
            if frame.first().is_some_and(|b| b >> 4 == 1) {
                refuse(&mut to_client, ConnectReturnCode::RefusedProtocolVersion).await;
            }
            return Err(End::Malformed("the first packet is not an MQTT 3.1.1 CONNECT".into()));
        };
        let (identity, hash) = match self.credentials.check(connect.login.as_ref()) {
            Ok(admitted) => admitted,
            Err(code) => {
                tracing::warn!(%peer, user = connect.login.as_ref().map(|l| l.username.chars().take(64).collect::<String>()).unwrap_or_default(), "MQTT sign-in refused");
                refuse(&mut to_client, code).await;
                return Err(End::Refused(code));
            }
        };
        if let Some(will) = &connect.last_will {
            if let Err(denied) = acl::may_will(&identity, &will.topic) {
                refuse(&mut to_client, ConnectReturnCode::NotAuthorized).await;
                return Err(End::Denied(denied));
            }
        }
        let username = identity.username();
        // Namespaced, so no client can take over (and so disconnect) the edge's own session;
        // rumqttd refuses ids with topic characters, which a user name (maker/serial) has.
        let id = format!("gate:{username}:{}", connect.client_id);
        connect.client_id = id.chars().map(|c| if matches!(c, '+' | '$' | '#' | '/') { ':' } else { c }).collect();
        connect.login = Some(Login::new(self.settings.upstream_username.clone(), self.settings.upstream_password.clone()));
        let mut upstream = TcpStream::connect(self.settings.upstream).await?;
        let _ = upstream.set_nodelay(true);
        let mut buffer = BytesMut::new();
        Packet::Connect(connect).write(&mut buffer, usize::MAX).map_err(|e| End::Malformed(e.to_string()))?;
        upstream.write_all(&buffer).await?;
        let (from_broker, to_broker) = upstream.into_split();
        let to_client = Arc::new(tokio::sync::Mutex::new(to_client));
        self.stats.connected.fetch_add(1, Ordering::Relaxed);
        tracing::info!(%peer, user = %username, "MQTT client signed in");
        let outcome = tokio::select! {
            ended = self.client_to_broker(&identity, from_client, inbox, to_broker, to_client.clone()) => ended,
            ended = broker_to_client(from_broker, to_client.clone(), self.settings.max_outgoing_packet_bytes) => ended,
            () = revoked(&self.credentials, &username, &hash) => Err(End::Revoked),
        };
        self.stats.connected.fetch_sub(1, Ordering::Relaxed);
        let _ = to_client.lock().await.shutdown().await;
        if let Err(End::Denied(why)) = &outcome {
            tracing::warn!(%peer, user = %username, %why, "MQTT client closed: refused request");
        }
        outcome
    }

    /// Checks each packet from the client and passes the allowed ones to the broker.
    async fn client_to_broker<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
        &self,
        who: &Identity,
        mut from_client: R,
        mut inbox: BytesMut,
        mut to_broker: tokio::net::tcp::OwnedWriteHalf,
        to_client: Arc<tokio::sync::Mutex<W>>,
    ) -> Result<(), End> {
        loop {
            let frame = read_frame(&mut from_client, &mut inbox, self.settings.max_packet_bytes).await?;
            match packet_type(&frame) {
                Some(PacketType::Publish) => {
                    let topic = publish_topic(&frame).ok_or_else(|| End::Malformed("PUBLISH without a UTF-8 topic".into()))?;
                    acl::may_publish(who, topic).map_err(End::Denied)?;
                }
                Some(PacketType::Subscribe) => {
                    let Ok(Packet::Subscribe(subscribe)) = Packet::read(&mut BytesMut::from(&frame[..]), self.settings.max_packet_bytes) else {
                        return Err(End::Malformed("SUBSCRIBE".into()));
                    };
                    if let Some(denied) = subscribe.filters.iter().find_map(|f| acl::may_subscribe(who, &f.path).err()) {
                        tracing::warn!(user = %who.username(), %denied, filters = ?subscribe.filters.iter().map(|f| f.path.chars().take(120).collect::<String>()).collect::<Vec<_>>(), "MQTT subscription refused");
                        self.stats.denied_subscriptions.fetch_add(1, Ordering::Relaxed);
                        let refusal = SubAck { pkid: subscribe.pkid, return_codes: vec![SubscribeReasonCode::Failure; subscribe.filters.len()] };
                        let mut buffer = BytesMut::new();
                        Packet::SubAck(refusal).write(&mut buffer, usize::MAX).map_err(|e| End::Malformed(e.to_string()))?;
                        to_client.lock().await.write_all(&buffer).await?;
                        continue;
                    }
                }
                Some(PacketType::Connect) => return Err(End::Malformed("a second CONNECT".into())),
                Some(_) => {}
                None => return Err(End::Malformed("unknown packet type".into())),
            }
            to_broker.write_all(&frame).await?;
        }
    }
}

/// Passes the broker's packets to the client, whole, so the gate's own SUBACKs never land in
/// the middle of one.
async fn broker_to_client<W: AsyncWrite + Unpin>(
    mut from_broker: tokio::net::tcp::OwnedReadHalf,
    to_client: Arc<tokio::sync::Mutex<W>>,
    max_packet_bytes: usize,
) -> Result<(), End> {
    let mut buffer = BytesMut::with_capacity(4096);
    loop {
        let frame = read_frame(&mut from_broker, &mut buffer, max_packet_bytes).await?;
        to_client.lock().await.write_all(&frame).await?;
    }
}

/// Resolves when the credential that admitted the session no longer holds.
async fn revoked(credentials: &Credentials, username: &str, hash: &str) {
    let mut changes = credentials.changed.subscribe();
    loop {
        if changes.changed().await.is_err() {
            return std::future::pending().await;
        }
        if !credentials.still_holds(username, hash) {
            return;
        }
    }
}

async fn refuse<W: AsyncWrite + Unpin>(to_client: &mut W, code: ConnectReturnCode) {
    let mut buffer = BytesMut::new();
    if Packet::ConnAck(ConnAck { session_present: false, code }).write(&mut buffer, usize::MAX).is_ok() {
        let _ = to_client.write_all(&buffer).await;
        let _ = to_client.shutdown().await;
    }
}

/// The next whole packet from `reader`; `buffer` keeps what was read beyond it.
async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R, buffer: &mut BytesMut, max_packet_bytes: usize) -> Result<Bytes, End> {
    loop {
        let missing = match mqttbytes::check(buffer.iter(), max_packet_bytes) {
            Ok(header) => return Ok(buffer.split_to(header.frame_length()).freeze()),
            Err(mqttbytes::Error::InsufficientBytes(missing)) => missing,
            Err(error) => return Err(End::Malformed(error.to_string())),
        };
        buffer.reserve(missing.clamp(1024, 64 * 1024));
        if reader.read_buf(buffer).await? == 0 {
            return Err(End::Closed);
        }
    }
}

fn packet_type(frame: &[u8]) -> Option<PacketType> {
    use PacketType::*;
    let all = [Connect, ConnAck, Publish, PubAck, PubRec, PubRel, PubComp, Subscribe, SubAck, Unsubscribe, UnsubAck, PingReq, PingResp, Disconnect];
    let kind = usize::from(frame.first()? >> 4);
    all.get(kind.checked_sub(1)?).copied()
}

/// The topic of a whole PUBLISH frame: after the fixed header (1 byte, then 1–4 bytes of
/// remaining length), a 2-byte length and the UTF-8 name.
fn publish_topic(frame: &[u8]) -> Option<&str> {
    let length_bytes = frame.iter().skip(1).take(4).position(|b| b & 0x80 == 0)? + 1;
    let at = 1 + length_bytes;
    let len = usize::from(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]));
    std::str::from_utf8(frame.get(at + 2..at + 2 + len)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::mqttbytes::v4::Publish;
    use rumqttc::QoS;

    fn frame(packet: Packet) -> Bytes {
        let mut buffer = BytesMut::new();
        packet.write(&mut buffer, usize::MAX).expect("encodes");
        buffer.freeze()
    }

    #[test]
    fn finds_the_topic_of_small_and_large_publishes() {
        for size in [0, 10, 200, 20_000, 3_000_000] {
            let f = frame(Packet::Publish(Publish::new("uagv/v2/tote/agv-1/state", QoS::AtMostOnce, vec![b'x'; size])));
            assert_eq!(publish_topic(&f), Some("uagv/v2/tote/agv-1/state"), "{size} bytes");
            assert_eq!(packet_type(&f), Some(PacketType::Publish));
        }
        assert_eq!(publish_topic(&[0x30, 0x02, 0x00]), None, "cut short");
    }

    #[tokio::test]
    async fn frames_split_across_reads_and_refuses_oversized_ones() {
        let one = frame(Packet::Publish(Publish::new("a/b", QoS::AtMostOnce, vec![7u8; 5000])));
        let two = frame(Packet::PingReq);
        let mut wire = one.to_vec();
        wire.extend_from_slice(&two);
        let (mut client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for chunk in wire.chunks(37) {
                client.write_all(chunk).await.expect("write");
            }
        });
        let mut buffer = BytesMut::new();
        assert_eq!(read_frame(&mut server, &mut buffer, 10_000).await.expect("first"), one);
        assert_eq!(read_frame(&mut server, &mut buffer, 10_000).await.expect("second"), two);
        writer.await.expect("writer");
        assert!(matches!(read_frame(&mut server, &mut buffer, 10_000).await, Err(End::Closed)));

        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(&one[..10]).await.expect("write");
        let mut buffer = BytesMut::new();
        assert!(matches!(read_frame(&mut server, &mut buffer, 1000).await, Err(End::Malformed(_))), "5000 bytes over a 1000-byte limit");
    }

    #[test]
    fn credentials_admit_only_the_right_password_and_follow_revocation() {
        let robot = Identity::Robot { manufacturer: "tote".into(), serial: "agv-1".into() };
        let credentials = Credentials::new([(robot.clone(), sha256_hex("s3cret-password-long-enough"))]);
        let login = |u: &str, p: &str| Some(Login::new(u, p));
        assert_eq!(credentials.check(login("tote/agv-1", "s3cret-password-long-enough").as_ref()).map(|x| x.0), Ok(robot.clone()));
        assert_eq!(credentials.check(login("tote/agv-1", "wrong").as_ref()).map(|x| x.0), Err(ConnectReturnCode::BadUserNamePassword));
        assert_eq!(credentials.check(login("tote/agv-2", "s3cret-password-long-enough").as_ref()).map(|x| x.0), Err(ConnectReturnCode::BadUserNamePassword));
        assert_eq!(credentials.check(None).map(|x| x.0), Err(ConnectReturnCode::NotAuthorized));
        let hash = sha256_hex("s3cret-password-long-enough");
        assert!(credentials.still_holds("tote/agv-1", &hash));
        credentials.put(robot, sha256_hex("another-password-long-enough"));
        assert!(!credentials.still_holds("tote/agv-1", &hash), "replaced");
        credentials.remove("tote/agv-1");
        assert_eq!(credentials.check(login("tote/agv-1", "another-password-long-enough").as_ref()).map(|x| x.0), Err(ConnectReturnCode::BadUserNamePassword));
    }
}
