//! Payments as the channels define them, and the pure rules around them.
//!
//! What it is: each channel's wire format and signature scheme (`wechat`, `alipay`, `card`),
//! their daily bills (`bill`), matching a bill against our own records (`reconcile`), the
//! risk rules evaluated before a payment is created (`risk`) and e-invoices (`invoice`).
//! Central signs and verifies with these; the simulator plays the channels with the same
//! formats and its own keys; independent SDKs in the test suite check both.
//!
//! What it is not: it does no I/O. No HTTP client, no database, no clock: time comes in as
//! `now_ms` or a Unix second, keys come in as bytes.

pub mod alipay;
pub mod bill;
pub mod card;
pub mod invoice;
pub mod keys;
pub mod reconcile;
pub mod risk;
pub mod wechat;

use serde::{Deserialize, Serialize};

/// A payment channel we speak to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// WeChat Pay API v3.
    Wechat,
    /// Alipay Open Platform (RSA2).
    Alipay,
    /// A card gateway in the style of Stripe (PaymentIntents, signed webhooks).
    Card,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [ChannelKind::Wechat, ChannelKind::Alipay, ChannelKind::Card];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Wechat => "wechat",
            ChannelKind::Alipay => "alipay",
            ChannelKind::Card => "card",
        }
    }

    pub fn parse(raw: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}
