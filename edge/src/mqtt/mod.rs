//! The edge as VDA 5050 master control on MQTT: subscribes to every robot's `state`,
//! `connection`, `factsheet` and `visualization`, validates each message (size, JSON, shape,
//! known robot, header matching the topic) and feeds the fleet; publishes `order` and
//! `instantActions`. A bad message is logged and counted, never a crash.

pub mod acl;
#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod gate;

use crate::fleet::{Fleet, Rejection};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tote_shared::runtime::supervise::Stop;
use tote_shared::runtime::system::now_ms;
use tote_shared::vda5050::{Action, Connection, Factsheet, Header, InstantActions, Order, State, Topic, Visualization, MAX_PAYLOAD_BYTES};

pub const SUBSCRIPTIONS: [(&str, QoS); 4] =
    [("state", QoS::AtMostOnce), ("connection", QoS::AtLeastOnce), ("factsheet", QoS::AtMostOnce), ("visualization", QoS::AtMostOnce)];

/// The topic filters for the robots of `manufacturers` (all robots when empty).
pub fn subscriptions(manufacturers: &[String]) -> Vec<(String, QoS)> {
    let all = ["+".to_owned()];
    let names = if manufacturers.is_empty() { &all[..] } else { manufacturers };
    names.iter().flat_map(|m| SUBSCRIPTIONS.iter().map(move |(topic, qos)| (format!("uagv/v2/{m}/+/{topic}"), *qos))).collect()
}

/// Last `headerId` sent, per (manufacturer, serial, topic).
type HeaderIds = Arc<Mutex<HashMap<(String, String, Topic), u32>>>;

/// Publishes `order` and `instantActions`, numbering `headerId` per robot and topic.
#[derive(Clone)]
pub struct Publisher {
    client: AsyncClient,
    header_ids: HeaderIds,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot hand the message to the MQTT client: {0}")]
pub struct PublishError(String);

impl Publisher {
    pub fn header(&self, manufacturer: &str, serial: &str, topic: Topic) -> Header {
        let mut ids = self.header_ids.lock().unwrap_or_else(|p| p.into_inner());
        let id = ids.entry((manufacturer.to_owned(), serial.to_owned(), topic)).or_insert(0);
        *id += 1;
        Header::new(*id, now_ms(), manufacturer, serial)
    }

    pub async fn instant_actions(&self, manufacturer: &str, serial: &str, actions: Vec<Action>) -> Result<(), PublishError> {
        let message = InstantActions { header: self.header(manufacturer, serial, Topic::InstantActions), actions };
        self.publish(Topic::InstantActions.path(manufacturer, serial), &message).await
    }

    pub async fn order(&self, order: &Order) -> Result<(), PublishError> {
        let topic = Topic::Order.path(&order.header.manufacturer, &order.header.serial_number);
        self.publish(topic, order).await
    }

    async fn publish(&self, topic: String, message: &impl serde::Serialize) -> Result<(), PublishError> {
        let payload = serde_json::to_vec(message).map_err(|e| PublishError(e.to_string()))?;
        self.client.publish(topic, QoS::AtMostOnce, false, payload).await.map_err(|e| PublishError(e.to_string()))
    }
}

/// The client for `host:port`, signing in with `login` if given; `run` must then drive its
/// event loop.
pub fn connect(host: &str, port: u16, client_id: String, login: Option<(String, String)>) -> (Publisher, Session) {
    let mut options = MqttOptions::new(client_id, host, port);
    if let Some((username, password)) = login {
        options.set_credentials(username, password);
    }
    options.set_keep_alive(Duration::from_secs(5));
    options.set_max_packet_size(MAX_PAYLOAD_BYTES * 4, MAX_PAYLOAD_BYTES * 4);
    let (client, events) = AsyncClient::new(options, 1024);
    (Publisher { client, header_ids: Arc::default() }, Session { events: tokio::sync::Mutex::new((events, false)) })
}

/// The event loop, kept across restarts of the task that drives it: every `Publisher` clone
/// is bound to this one, so a restart must not build a new one. The flag says a run has
/// started before. A tokio mutex is not poisoned by a panic, and a run that panicked drops
/// its guard as it unwinds, so the next run finds the loop where the last one left it.
pub struct Session {
    events: tokio::sync::Mutex<(EventLoop, bool)>,
}

/// Drives the event loop until `stop` (reconnecting with a pause), subscribing on every connect.
pub async fn run(publisher: Publisher, session: Arc<Session>, fleet: Arc<Fleet>, manufacturers: Vec<String>, stop: Stop) {
    let filters = subscriptions(&manufacturers);
    let client = publisher.client;
    let mut guard = session.events.lock().await;
    let (events, ran_before) = &mut *guard;
    if std::mem::replace(ran_before, true) {
        // Restarted: the connection may still be up, so no ConnAck will come to subscribe on.
        // Subscribing again replaces the subscription; the broker resends retained messages.
        subscribe(&client, &filters).await;
    }
    loop {
        let Some(polled) = stop.run_until_stopped(events.poll()).await else { return };
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!("connected to the MQTT broker");
                subscribe(&client, &filters).await;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => handle(&fleet, &p.topic, &p.payload, now_ms()),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "MQTT connection lost; reconnecting");
                let _ = stop.run_until_stopped(tokio::time::sleep(Duration::from_millis(500))).await;
            }
        }
    }
}

async fn subscribe(client: &AsyncClient, filters: &[(String, QoS)]) {
    for (filter, qos) in filters {
        if let Err(error) = client.subscribe(filter, *qos).await {
            tracing::error!(%error, filter, "subscribe failed");
        }
    }
}

/// Validates one robot message and applies it to the fleet.
pub fn handle(fleet: &Fleet, topic: &str, payload: &[u8], now: i64) {
    let Some((manufacturer, serial, kind)) = Topic::parse(topic) else {
        return reject(fleet, Rejection::UnknownTopic, topic, "not a VDA 5050 v2 topic");
    };
    if payload.is_empty() {
        // An empty retained message clears a topic on the broker; nothing to apply.
        tracing::debug!(%topic, "retained message cleared");
        return;
    }
    if payload.len() > MAX_PAYLOAD_BYTES {
        return reject(fleet, Rejection::TooLarge, topic, "payload over the limit");
    }
    let value: serde_json::Value = match serde_json::from_slice(payload) {
        Ok(v) => v,
        Err(_) => return reject(fleet, Rejection::NotJson, topic, "payload is not JSON"),
    };
    let (m, s) = (manufacturer.as_str(), serial.as_str());
    match kind {
        Topic::Connection => {
            if let Some(c) = parse::<Connection>(fleet, topic, value, m, s, |c| &c.header) {
                fleet.connection(m, s, c.connection_state, now);
            }
        }
        Topic::State => {
            if let Some(state) = parse::<State>(fleet, topic, value, m, s, |x| &x.header) {
                fleet.state(m, s, &state, now);
            }
        }
        Topic::Visualization => {
            if let Some(v) = parse::<Visualization>(fleet, topic, value, m, s, |x| &x.header) {
                fleet.visualization(m, s, &v, now);
            }
        }
        Topic::Factsheet => {
            if let Some(f) = parse::<Factsheet>(fleet, topic, value, m, s, |x| &x.header) {
                fleet.factsheet(m, s, &f, now);
            }
        }
        // Our own publications echo back only if someone subscribed us to them; ignore.
        Topic::Order | Topic::InstantActions => {}
    }
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
        reject(fleet, Rejection::HeaderMismatch, topic, "header names another robot than the topic");
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
