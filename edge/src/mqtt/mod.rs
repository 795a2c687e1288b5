//! The edge as VDA 5050 master control on MQTT: subscribes to every robot's `state`,
//! `connection`, `factsheet` and `visualization`, validates each message (size, JSON, shape,
//! known robot, header matching the topic) and feeds the fleet; publishes `order` and
//! `instantActions`. A bad message is logged and counted, never a crash.

pub mod acl;
#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod gate;

use crate::fleet::{Fleet, Rejection, Sent};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tote_shared::runtime::supervise::Stop;
use tote_shared::runtime::system::now_ms;
use tote_shared::vda5050::{
    Action, Connection, ConnectionState, Factsheet, Header, InstantActions, Order, State, Topic,
    Visualization, MAX_PAYLOAD_BYTES,
};

pub const SUBSCRIPTIONS: [(&str, QoS); 4] = [
    ("state", QoS::AtMostOnce),
    ("connection", QoS::AtLeastOnce),
    ("factsheet", QoS::AtMostOnce),
    ("visualization", QoS::AtMostOnce),
];

/// The topic filters for the robots of `manufacturers` (all robots when empty).
pub fn subscriptions(manufacturers: &[String]) -> Vec<(String, QoS)> {
    let all = ["+".to_owned()];
    let names = if manufacturers.is_empty() {
        &all[..]
    } else {
        manufacturers
    };
    names
        .iter()
        .flat_map(|m| {
            SUBSCRIPTIONS
                .iter()
                .map(move |(topic, qos)| (format!("uagv/v2/{m}/+/{topic}"), *qos))
        })
        .collect()
}

/// Last `headerId` sent, per (manufacturer, serial, topic).
type HeaderIds = Arc<Mutex<HashMap<(String, String, Topic), u32>>>;

/// Publishes `order` and `instantActions`, numbering `headerId` per robot and topic.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
    header_ids: HeaderIds,
    /// True between the broker's CONNACK and the connection's loss. While it is false nothing
    /// is queued: orders and instant actions go out at most once (QoS 0), and one delivered
    /// after a reconnect would be stale — the controller resends what a robot has not taken.
    link_up: Arc<AtomicBool>,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker link is down: expected during an outage (which the event loop logs once), so
    /// callers need not log it again for every message.
    #[error("cannot hand the message to the MQTT client: the link to the broker is down")]
    LinkDown,
    #[error("cannot hand the message to the MQTT client: {0}")]
    Client(String),
}

impl PublishError {
    pub fn link_down(&self) -> bool {
        matches!(self, PublishError::LinkDown)
    }
}

impl Publisher {
    /// The next header to the robot on `topic`, in the protocol version it speaks.
    pub fn header(&self, fleet: &Fleet, manufacturer: &str, serial: &str, topic: Topic) -> Header {
        let mut ids = self.header_ids.lock().unwrap_or_else(|p| p.into_inner());
        let id = ids
            .entry((manufacturer.to_owned(), serial.to_owned(), topic))
            .or_insert(0);
        *id += 1;
        Header::new(*id, now_ms(), manufacturer, serial)
            .in_version(fleet.version_of(manufacturer, serial))
    }

    /// Sends instant actions, remembered in the fleet to match a refusal against.
    pub async fn instant_actions(
        &self,
        fleet: &Fleet,
        manufacturer: &str,
        serial: &str,
        actions: Vec<Action>,
    ) -> Result<(), PublishError> {
        let message = InstantActions {
            header: self.header(fleet, manufacturer, serial, Topic::InstantActions),
            actions,
        };
        let action_ids = message
            .actions
            .iter()
            .map(|a| a.action_id.clone())
            .collect();
        fleet.sent(
            manufacturer,
            serial,
            Sent {
                topic: Topic::InstantActions,
                header_id: message.header.header_id,
                order: None,
                action_ids,
            },
        );
        self.publish(Topic::InstantActions.path(manufacturer, serial), &message)
            .await
    }

    /// Sends an order (its header from `header`), remembered in the fleet: the robot's first
    /// state naming it is never taken for someone else's order, and a refusal is matched to it.
    pub async fn order(&self, fleet: &Fleet, order: &Order) -> Result<(), PublishError> {
        let (m, s) = (&order.header.manufacturer, &order.header.serial_number);
        let action_ids = order
            .nodes
            .iter()
            .flat_map(|n| &n.actions)
            .map(|a| a.action_id.clone())
            .collect();
        let sent = Sent {
            topic: Topic::Order,
            header_id: order.header.header_id,
            order: Some((order.order_id.clone(), order.order_update_id)),
            action_ids,
        };
        fleet.sent(m, s, sent);
        self.publish(Topic::Order.path(m, s), order).await
    }

    async fn publish(
        &self,
        topic: String,
        message: &impl serde::Serialize,
    ) -> Result<(), PublishError> {
        if !self.link_up.load(Ordering::Relaxed) {
            return Err(PublishError::LinkDown);
        }
        let payload = serde_json::to_vec(message).map_err(|e| PublishError::Client(e.to_string()))?;
        // Never waits: a full queue means the link is stalled, and the caller (the floor's
        // tick) must not stall with it.
        self.client
            .try_publish(topic, QoS::AtMostOnce, false, payload)
            .map_err(|e| PublishError::Client(e.to_string()))
    }
}

/// The client for `host:port`, signing in with `login` if given; `run` must then drive its
/// event loop.
pub fn connect(
    host: &str,
    port: u16,
    client_id: String,
    login: Option<(String, String)>,
) -> (Publisher, Session) {
    let mut options = MqttOptions::new(client_id, host, port);
    if let Some((username, password)) = login {
        options.set_credentials(username, password);
    }
    options.set_keep_alive(Duration::from_secs(5));
    options.set_max_packet_size(MAX_PAYLOAD_BYTES * 4, MAX_PAYLOAD_BYTES * 4);
    let (client, events) = AsyncClient::new(options, 1024);
    let link_up = Arc::new(AtomicBool::new(false));
    (
        Publisher {
            client,
            header_ids: Arc::default(),
            link_up: link_up.clone(),
        },
        Session {
            events: tokio::sync::Mutex::new((events, false)),
            link_up,
        },
    )
}

/// The event loop, kept across restarts of the task that drives it: every `Publisher` clone
/// is bound to this one, so a restart must not build a new one. The flag says a run has
/// started before. A tokio mutex is not poisoned by a panic, and a run that panicked drops
/// its guard as it unwinds, so the next run finds the loop where the last one left it.
pub struct Session {
    events: tokio::sync::Mutex<(EventLoop, bool)>,
    link_up: Arc<AtomicBool>,
}

/// Drives the event loop until `stop` (reconnecting with a pause), subscribing on every connect.
pub async fn run(
    publisher: Publisher,
    session: Arc<Session>,
    fleet: Arc<Fleet>,
    manufacturers: Vec<String>,
    stop: Stop,
) {
    let filters = subscriptions(&manufacturers);
    let publisher_again = publisher.clone();
    let client = publisher.client;
    let mut guard = session.events.lock().await;
    let (events, ran_before) = &mut *guard;
    if std::mem::replace(ran_before, true) {
        // Restarted: the connection may still be up, so no ConnAck will come to subscribe on.
        // Subscribing again replaces the subscription; the broker resends retained messages.
        subscribe(&client, &filters);
    }
    loop {
        let Some(polled) = stop.run_until_stopped(events.poll()).await else {
            return;
        };
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!("connected to the MQTT broker");
                session.link_up.store(true, Ordering::Relaxed);
                fleet.link_restored(now_ms());
                subscribe(&client, &filters);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if let Some((manufacturer, serial)) = handle(&fleet, &p.topic, &p.payload, now_ms())
                {
                    // A retained ONLINE replayed by our own resubscribe is not news: the robot
                    // did not just come online, and its next state follows anyway. Asking every
                    // robot at once after each reconnect crowded a slow link, and each request
                    // stays in the robot's actionStates (so in every state) until its next order.
                    if !p.retain || !fleet.has_reported(&manufacturer, &serial) {
                        request_state(&publisher_again, &fleet, manufacturer, serial);
                    }
                }
            }
            Ok(_) => {}
            Err(error) => {
                session.link_up.store(false, Ordering::Relaxed);
                fleet.link_lost(now_ms());
                tracing::warn!(%error, "MQTT connection lost; reconnecting");
                let _ = stop
                    .run_until_stopped(tokio::time::sleep(Duration::from_millis(500)))
                    .await;
            }
        }
    }
}

/// A robot came online: ask for its state at once rather than wait for its next one (VDA 5050
/// lets a vehicle publish state only on events and every 30 s). On a task of its own: only the
/// event loop drains the client's request queue, so the loop must never wait on that queue.
fn request_state(publisher: &Publisher, fleet: &Arc<Fleet>, manufacturer: String, serial: String) {
    let (publisher, fleet) = (publisher.clone(), fleet.clone());
    tokio::spawn(async move {
        let action_id = format!("edge-state-{}-{:08x}", now_ms(), rand::random::<u32>());
        let action = Action {
            action_type: "stateRequest".into(),
            action_id,
            action_description: None,
            blocking_type: tote_shared::vda5050::BlockingType::None,
            action_parameters: None,
        };
        if let Err(error) = publisher
            .instant_actions(&fleet, &manufacturer, &serial, vec![action])
            .await
        {
            tracing::warn!(%error, %serial, "cannot ask a robot for its state");
        }
    });
}

/// Subscribes on a task of its own, for the same reason as `request_state`.
fn subscribe(client: &AsyncClient, filters: &[(String, QoS)]) {
    let (client, filters) = (client.clone(), filters.to_vec());
    tokio::spawn(async move {
        for (filter, qos) in filters {
            if let Err(error) = client.subscribe(&filter, qos).await {
                tracing::error!(%error, filter, "subscribe failed");
            }
        }
    });
}

/// Validates one robot message and applies it to the fleet. Returns the robot when it just
/// announced itself ONLINE.
pub fn handle(fleet: &Fleet, topic: &str, payload: &[u8], now: i64) -> Option<(String, String)> {
    let Some((manufacturer, serial, kind)) = Topic::parse(topic) else {
        reject(
            fleet,
            Rejection::UnknownTopic,
            topic,
            "not a VDA 5050 v2 topic",
        );
        return None;
    };
    if payload.is_empty() {
        // An empty retained message clears a topic on the broker; nothing to apply.
        tracing::debug!(%topic, "retained message cleared");
        return None;
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        reject(fleet, Rejection::TooLarge, topic, "payload over the limit");
        return None;
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) else {
        reject(fleet, Rejection::NotJson, topic, "payload is not JSON");
        return None;
    };
    let (m, s) = (manufacturer.as_str(), serial.as_str());
    let (version, came_online) = match kind {
        Topic::Connection => {
            let c = parse::<Connection>(fleet, topic, value, m, s, |c| &c.header)?;
            fleet.connection(m, s, c.connection_state, now);
            (
                c.header.version,
                c.connection_state == ConnectionState::Online,
            )
        }
        Topic::State => {
            let state = parse::<State>(fleet, topic, value, m, s, |x| &x.header)?;
            fleet.state(m, s, &state, now);
            (state.header.version, false)
        }
        Topic::Visualization => {
            let v = parse::<Visualization>(fleet, topic, value, m, s, |x| &x.header)?;
            fleet.visualization(m, s, &v, now);
            (v.header.version, false)
        }
        Topic::Factsheet => {
            let f = parse::<Factsheet>(fleet, topic, value, m, s, |x| &x.header)?;
            fleet.factsheet(m, s, &f, now);
            (f.header.version, false)
        }
        // Our own publications echo back only if someone subscribed us to them; ignore.
        Topic::Order | Topic::InstantActions => return None,
    };
    fleet.announced(m, s, &version);
    came_online.then_some((manufacturer, serial))
}

fn parse<T: DeserializeOwned>(
    fleet: &Fleet,
    topic: &str,
    value: serde_json::Value,
    manufacturer: &str,
    serial: &str,
    header: impl Fn(&T) -> &Header,
) -> Option<T> {
    let message: T = match serde_json::from_value(value) {
        Ok(m) => m,
        Err(e) => {
            reject(fleet, Rejection::WrongShape, topic, &e.to_string());
            return None;
        }
    };
    let h = header(&message);
    if h.manufacturer != manufacturer || h.serial_number != serial {
        reject(
            fleet,
            Rejection::HeaderMismatch,
            topic,
            "header names another robot than the topic",
        );
        return None;
    }
    Some(message)
}

fn reject(fleet: &Fleet, why: Rejection, topic: &str, detail: &str) {
    let topic: String = topic.chars().take(120).collect();
    let detail: String = detail.chars().take(200).collect();
    tracing::warn!(reason = why.as_str(), %topic, %detail, "robot message rejected");
    fleet.reject(why);
}
