//! Central's typed settings: a TOML file, then `TOTE_CENTRAL__SECTION__KEY` environment
//! variables, then `validate()`. Secrets are `SecretString` and never logged.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::Path;
use std::path::PathBuf;
pub use tote_shared::runtime::settings::ConfigError;
pub use tote_shared::runtime::settings::HttpSettings;
use tote_shared::runtime::settings::{default_log, load_layered, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub orders: OrderSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default)]
    pub payment: PaymentSettings,
    #[serde(default)]
    pub logistics: LogisticsSettings,
    /// Marketplace shops whose orders are imported and whose shipments are confirmed back, by
    /// the name their orders' channel carries (`[marketplaces.tmall]`).
    #[serde(default)]
    pub marketplaces: std::collections::BTreeMap<String, MarketplaceSettings>,
    #[serde(default)]
    pub marketing: MarketingSettings,
    #[serde(default)]
    pub finance: FinanceSettings,
    #[serde(default = "default_log")]
    pub log: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite` (the default: a file, nothing to install) or `postgres`.
    #[serde(default = "default_backend")]
    pub backend: Backend,
    /// SQLite: the database file (WAL mode; keep it on a local disk).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// PostgreSQL: `postgresql://user:password@host:port/database`. Set it from the
    /// environment (`TOTE_CENTRAL__DATABASE__URL`): it usually holds a password.
    #[serde(default)]
    pub url: Option<SecretString>,
    /// SQLite: writes waiting for the single writer thread.
    #[serde(default = "default_write_queue")]
    pub write_queue: usize,
    /// SQLite: most writes folded into one group commit (one fsync).
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// SQLite: read-only connections for queries.
    #[serde(default = "default_max_readers")]
    pub max_readers: usize,
    /// PostgreSQL: connections in the pool (each runs one transaction at a time).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
}

fn default_backend() -> Backend {
    Backend::Sqlite
}
fn default_write_queue() -> usize {
    65_536
}
fn default_max_batch() -> usize {
    1024
}
fn default_max_readers() -> usize {
    4
}
fn default_pool_size() -> usize {
    16
}

impl DatabaseSettings {
    /// SQLite settings for a file: what tests and the demo use.
    pub fn sqlite_file(path: PathBuf) -> DatabaseSettings {
        DatabaseSettings {
            backend: Backend::Sqlite,
            path: Some(path),
            url: None,
            write_queue: default_write_queue(),
            max_batch: default_max_batch(),
            max_readers: default_max_readers(),
            pool_size: default_pool_size(),
        }
    }

    /// PostgreSQL settings for a URL.
    pub fn postgres(url: &str, pool_size: usize) -> DatabaseSettings {
        DatabaseSettings {
            backend: Backend::Postgres,
            path: None,
            url: Some(url.to_owned().into()),
            pool_size,
            ..Self::sqlite_file(PathBuf::new())
        }
    }

    /// The shape the daemons' shared SQLite runtime takes.
    pub fn sqlite(&self) -> tote_shared::runtime::settings::DatabaseSettings {
        tote_shared::runtime::settings::DatabaseSettings {
            path: self.path.clone().unwrap_or_default(),
            write_queue: self.write_queue,
            max_batch: self.max_batch,
            max_readers: self.max_readers,
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        match self.backend {
            Backend::Sqlite => {
                if self.path.as_ref().is_none_or(|p| p.as_os_str().is_empty()) {
                    return Err(Invalid {
                        field: "database.path",
                        why: "the sqlite backend needs a file path".into(),
                    });
                }
                self.sqlite().validate()
            }
            Backend::Postgres => {
                let url = self
                    .url
                    .as_ref()
                    .map(|u| u.expose_secret().to_owned())
                    .unwrap_or_default();
                if !(url.starts_with("postgres://")
                    || url.starts_with("postgresql://")
                    || url.contains("host="))
                {
                    return Err(Invalid {
                        field: "database.url",
                        why: "the postgres backend needs a postgresql:// URL".into(),
                    });
                }
                if !(1..=512).contains(&self.pool_size) {
                    return Err(Invalid {
                        field: "database.pool_size",
                        why: "must be between 1 and 512".into(),
                    });
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSettings {
    /// An unpaid order closes and releases its lock after this long.
    pub payment_timeout_ms: u64,
    /// How often to look for unpaid orders past their deadline.
    pub sweep_interval_ms: u64,
    /// Most lines in one order.
    pub max_lines: usize,
    /// One-line orders are taken in batches by this many workers, each owning the SKUs that
    /// hash to it (a flash sale's orders share one batch transaction).
    #[serde(default = "default_intake_shards")]
    pub intake_shards: usize,
}

fn default_intake_shards() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Bearer token with full access. Set it from the environment in production.
    pub admin_token: SecretString,
    /// Bearer token that may only read.
    pub read_token: SecretString,
    /// Bearer token that `GET /metrics` then requires (Prometheus' `authorization` setting);
    /// absent, `/metrics` is open as before. From the environment:
    /// `TOTE_CENTRAL__AUTH__METRICS_TOKEN`.
    #[serde(default)]
    pub metrics_token: Option<SecretString>,
    /// How long an HQ user's session lasts from sign-in (a working day by default).
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or networks:
    /// `"10.0.0.0/8"`, `"192.0.2.7"`): from them, the client's address is the rightmost hop
    /// that is not a proxy. Empty by default: the TCP peer is the client.
    #[serde(default, deserialize_with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A session unused this long ends too (30 minutes by default; at most `session_minutes`).
    #[serde(default = "default_idle_minutes")]
    pub idle_minutes: u32,
    /// Argon2 password comparisons at once (each holds ~19 MiB); further sign-ins queue.
    #[serde(default = "default_max_concurrent_hashes")]
    pub max_concurrent_hashes: usize,
    /// Sign-ins that may wait for a comparison; past that the answer is 503 at once.
    #[serde(default = "default_max_waiting_hashes")]
    pub max_waiting_hashes: usize,
    /// On first start with no HQ users: this user is made admin with `bootstrap_password`
    /// (from the environment: `TOTE_CENTRAL__AUTH__BOOTSTRAP_PASSWORD`).
    #[serde(default)]
    pub bootstrap_admin: Option<String>,
    #[serde(default)]
    pub bootstrap_password: Option<SecretString>,
}

impl AuthSettings {
    /// The two configured tokens and every other setting at its default.
    pub fn with_tokens(admin_token: SecretString, read_token: SecretString) -> AuthSettings {
        AuthSettings {
            admin_token,
            read_token,
            metrics_token: None,
            session_minutes: default_session_minutes(),
            idle_minutes: default_idle_minutes(),
            trusted_proxies: Vec::new(),
            max_concurrent_hashes: default_max_concurrent_hashes(),
            max_waiting_hashes: default_max_waiting_hashes(),
            bootstrap_admin: None,
            bootstrap_password: None,
        }
    }
}

fn default_session_minutes() -> u32 {
    480
}

/// Addresses or networks, as strings; an address alone is a network of one.
fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let texts: Vec<String> = Deserialize::deserialize(d)?;
    if texts.len() > 64 {
        return Err(serde::de::Error::custom("at most 64 trusted proxies"));
    }
    texts
        .iter()
        .map(|t| {
            t.parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("{t:?} is not an address or network")))
        })
        .collect()
}

fn default_idle_minutes() -> u32 {
    30
}

fn default_max_concurrent_hashes() -> usize {
    2
}

fn default_max_waiting_hashes() -> usize {
    32
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Idempotency-Keys are forgotten after this long (clients retry within minutes).
    pub idempotency_keys_hours: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            idempotency_keys_hours: 24 * 7,
        }
    }
}

/// Logistics' ways out (carrier platforms, the tracking aggregator) and in (its pushes).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticsSettings {
    /// The salt given to the tracking aggregator at subscription: its pushes to
    /// `/api/v1/logistics/tracking/kuaidi100` are signed MD5(param + salt). Unset: pushes are
    /// refused. Set it from the environment (`TOTE_CENTRAL__LOGISTICS__TRACKING_SALT`).
    #[serde(default)]
    pub tracking_salt: Option<SecretString>,
    /// Carrier open platforms by carrier code (`[logistics.carriers.SF]`): where waybill
    /// numbers come from and parcels are registered. A carrier without one ships on typed
    /// paper waybills only.
    #[serde(default)]
    pub carriers: std::collections::BTreeMap<String, CarrierApiSettings>,
    /// The tracking aggregator every registered parcel is subscribed to.
    #[serde(default)]
    pub aggregator: Option<AggregatorSettings>,
    #[serde(default)]
    pub pools: PoolSettings,
    /// Deadline of one call to a carrier or the aggregator.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// How often the dispatcher looks for pools to refill and parcels to register.
    #[serde(default = "default_dispatch_interval_ms")]
    pub dispatch_interval_ms: u64,
}

impl Default for LogisticsSettings {
    fn default() -> Self {
        LogisticsSettings {
            tracking_salt: None,
            carriers: Default::default(),
            aggregator: None,
            pools: PoolSettings::default(),
            call_timeout_ms: default_call_timeout_ms(),
            dispatch_interval_ms: default_dispatch_interval_ms(),
        }
    }
}

/// One account on a carrier's open platform (SF Express's style: a signed form).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CarrierApiSettings {
    /// `https://sfapi.sf-express.com/std/service` in production.
    pub url: String,
    pub partner_id: String,
    /// Signs every request (`msgDigest`). From the environment:
    /// `TOTE_CENTRAL__LOGISTICS__CARRIERS__SF__CHECKWORD`.
    pub checkword: SecretString,
    /// The monthly account freight is billed to.
    #[serde(default)]
    pub monthly_card: String,
}

/// One shop on a marketplace's open platform (Taobao/Tmall's TOP style).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceSettings {
    /// `https://eco.taobao.com/router/rest` in production.
    pub url: String,
    pub app_key: String,
    /// Signs every call. From the environment: `TOTE_CENTRAL__MARKETPLACES__TMALL__APP_SECRET`.
    pub app_secret: SecretString,
    /// The seller's session key (the shop's authorisation of the app).
    pub session: SecretString,
    /// Between two pulls of new and changed trades (and confirmation rounds).
    #[serde(default = "default_marketplace_poll_ms")]
    pub poll_interval_ms: u64,
    /// Each pull re-reads this much before where the last one ended: a trade the platform
    /// indexed late is still seen (a re-import is the same order).
    #[serde(default = "default_marketplace_overlap_ms")]
    pub overlap_ms: u64,
    /// The first pull reaches this far back.
    #[serde(default = "default_marketplace_lookback_ms")]
    pub initial_lookback_ms: u64,
    /// Deadline of one call.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
}

fn default_marketplace_poll_ms() -> u64 {
    30_000
}
fn default_marketplace_overlap_ms() -> u64 {
    300_000
}
fn default_marketplace_lookback_ms() -> u64 {
    86_400_000
}

impl MarketplaceSettings {
    /// `name`: the key it is configured under, the channel its orders carry.
    pub fn validate(&self, name: &str) -> Result<(), Invalid> {
        let invalid = |why: &'static str| {
            Err(Invalid {
                field: "marketplaces",
                why: why.into(),
            })
        };
        let name_ok = (2..=40).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !name_ok {
            return invalid("each marketplace's name: 2 to 40 of a-z, 0-9, _ and -");
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://"))
            || self.app_key.is_empty()
        {
            return invalid("each marketplace needs an http(s) url and an app_key");
        }
        if self.app_secret.expose_secret().is_empty() || self.session.expose_secret().is_empty() {
            return invalid("each marketplace needs its app_secret and session");
        }
        if !(10..=3_600_000).contains(&self.poll_interval_ms)
            || self.overlap_ms > 3_600_000
            || !(100..=120_000).contains(&self.call_timeout_ms)
        {
            return invalid("poll_interval_ms 10..=3600000, overlap_ms at most 3600000, call_timeout_ms 100..=120000");
        }
        if self.initial_lookback_ms > 30 * 86_400_000 {
            return invalid("initial_lookback_ms at most 30 days");
        }
        Ok(())
    }
}

/// A Kuaidi100-style tracking aggregator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorSettings {
    /// `https://poll.kuaidi100.com/poll` in production.
    pub url: String,
    /// The customer key subscriptions carry.
    pub key: SecretString,
    /// Where the aggregator pushes: central's `/api/v1/logistics/tracking/kuaidi100` as the
    /// aggregator reaches it. Default: on the HTTP listener's own address, which only an
    /// aggregator on the same network can reach.
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// How many waybill numbers each warehouse holds per carrier: enough for `cover_hours` at the
/// busiest hour of its last day, never fewer than `min_free` nor more than `max_free`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    #[serde(default = "default_cover_hours")]
    pub cover_hours: u32,
    #[serde(default = "default_min_free")]
    pub min_free: u32,
    #[serde(default = "default_max_free")]
    pub max_free: u32,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            cover_hours: default_cover_hours(),
            min_free: default_min_free(),
            max_free: default_max_free(),
        }
    }
}

fn default_cover_hours() -> u32 {
    12
}
fn default_min_free() -> u32 {
    100
}
fn default_max_free() -> u32 {
    50_000
}

impl LogisticsSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |field, why: &'static str| {
            Err(Invalid {
                field,
                why: why.into(),
            })
        };
        let web = |url: &str| url.starts_with("http://") || url.starts_with("https://");
        for (code, carrier) in &self.carriers {
            // The carrier's code as the rate cards spell it (`^[A-Z0-9]{2,16}$`).
            let code_ok = (2..=16).contains(&code.len())
                && code
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            if !code_ok
                || !web(&carrier.url)
                || carrier.partner_id.is_empty()
                || carrier.checkword.expose_secret().is_empty()
            {
                return invalid("logistics.carriers", "each carrier needs its code (A-Z, 0-9), an http(s) url, a partner_id and a checkword");
            }
        }
        if let Some(aggregator) = &self.aggregator {
            if !web(&aggregator.url)
                || aggregator.callback_url.as_deref().is_some_and(|u| !web(u))
                || aggregator.key.expose_secret().is_empty()
            {
                return invalid(
                    "logistics.aggregator",
                    "needs an http(s) url and callback_url and a key",
                );
            }
            if self.tracking_salt.is_none() {
                return invalid(
                    "logistics.tracking_salt",
                    "the aggregator signs its pushes with it: set it",
                );
            }
        }
        let p = self.pools;
        if p.cover_hours == 0
            || p.cover_hours > 24 * 14
            || p.min_free == 0
            || p.max_free < p.min_free
            || p.max_free > 1_000_000
        {
            return invalid(
                "logistics.pools",
                "cover_hours 1..=336, min_free ≥ 1, min_free ≤ max_free ≤ 1000000",
            );
        }
        if !(100..=120_000).contains(&self.call_timeout_ms)
            || !(10..=60_000).contains(&self.dispatch_interval_ms)
        {
            return invalid(
                "logistics",
                "call_timeout_ms 100..=120000 and dispatch_interval_ms 10..=60000",
            );
        }
        Ok(())
    }
}

/// Payment channels. A channel without a section is not offered; with none, only HQ's manual
/// `POST /orders/{id}/pay` can pay (for payments taken outside the system).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentSettings {
    /// The currency every order is priced in (ISO 4217).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Deadline of one call to a channel.
    #[serde(default = "default_call_timeout_ms")]
    pub call_timeout_ms: u64,
    /// How long a payment may sit without news before we ask the channel (a notification
    /// may have been lost).
    #[serde(default = "default_query_after_ms")]
    pub query_after_ms: u64,
    /// How often the dispatcher looks for calls to make (creates, closes, refunds, queries).
    #[serde(default = "default_dispatch_interval_ms")]
    pub dispatch_interval_ms: u64,
    /// Whether HQ may mark an order paid by hand (money taken outside the channels).
    #[serde(default = "default_true")]
    pub allow_manual: bool,
    /// Risk rules in TOML (`configs/risk-rules.toml` shows the shape); without it the built-in
    /// defaults. Rules set through the API replace both until set again.
    #[serde(default)]
    pub risk_rules_path: Option<PathBuf>,
    #[serde(default)]
    pub invoice: InvoiceSettings,
    /// Central's address as the channels reach it (`https://pay.example.com`); notifications go
    /// to `<public_url>/api/v1/payments/notify/<channel>`. Default: the HTTP listener's own
    /// address, which only a channel on the same network can reach.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Reconcile yesterday's bills after this hour (UTC) each day; none: only on request.
    #[serde(default)]
    pub reconcile_at_hour_utc: Option<u8>,
    pub wechat: Option<WechatSettings>,
    pub alipay: Option<AlipaySettings>,
    pub card: Option<CardSettings>,
}

/// The seller on every e-invoice, and the VAT rate of the goods.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceSettings {
    pub seller_name: String,
    /// The unified social credit code (18 characters).
    pub seller_tax_id: String,
    pub seller_address: String,
    /// VAT in basis points: 1300 = 13 % (goods in mainland China).
    pub tax_rate_bp: u32,
}

impl Default for InvoiceSettings {
    fn default() -> Self {
        InvoiceSettings {
            seller_name: "Tote Retail Co., Ltd.".into(),
            seller_tax_id: "91310000MA1FL0TE2X".into(),
            seller_address: "1 Century Avenue, Pudong, Shanghai".into(),
            tax_rate_bp: 1300,
        }
    }
}

impl Default for PaymentSettings {
    fn default() -> Self {
        PaymentSettings {
            currency: default_currency(),
            call_timeout_ms: default_call_timeout_ms(),
            query_after_ms: default_query_after_ms(),
            dispatch_interval_ms: default_dispatch_interval_ms(),
            allow_manual: true,
            risk_rules_path: None,
            invoice: InvoiceSettings::default(),
            reconcile_at_hour_utc: None,
            public_url: None,
            wechat: None,
            alipay: None,
            card: None,
        }
    }
}

fn default_currency() -> String {
    "CNY".into()
}
fn default_call_timeout_ms() -> u64 {
    10_000
}
fn default_query_after_ms() -> u64 {
    60_000
}
fn default_dispatch_interval_ms() -> u64 {
    1_000
}
fn default_true() -> bool {
    true
}

/// WeChat Pay API v3, one merchant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WechatSettings {
    /// `https://api.mch.weixin.qq.com` in production.
    pub base_url: String,
    pub appid: String,
    pub mchid: String,
    /// The serial number of the merchant's API certificate.
    pub merchant_serial: String,
    /// PKCS#8 PEM. From the environment: `TOTE_CENTRAL__PAYMENT__WECHAT__MERCHANT_PRIVATE_KEY`.
    pub merchant_private_key: SecretString,
    /// The 32-character APIv3 key that seals callback resources.
    pub apiv3_key: SecretString,
    /// The platform's public keys by serial (two while WeChat rotates its key).
    pub platform_keys: Vec<PlatformKey>,
    #[serde(default = "wechat_fee")]
    pub fee: FeeSettings,
}

/// What a channel charges, as the contract says: the reconciliation expects it on every line.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeSettings {
    /// Per payment, in basis points of the amount (60 = 0.6 %), rounded half up.
    pub rate_bp: u32,
    /// Per payment, a fixed part.
    #[serde(default)]
    pub fixed_minor: i64,
    /// Whether a refund gives back the same share of the fee.
    #[serde(default)]
    pub refunded: bool,
}

fn wechat_fee() -> FeeSettings {
    FeeSettings {
        rate_bp: 60,
        fixed_minor: 0,
        refunded: true,
    }
}
fn card_fee() -> FeeSettings {
    FeeSettings {
        rate_bp: 290,
        fixed_minor: 30,
        refunded: false,
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformKey {
    pub serial: String,
    /// SubjectPublicKeyInfo PEM.
    pub public_key: String,
}

/// Alipay Open Platform, one app.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipaySettings {
    /// `https://openapi.alipay.com/gateway.do` in production.
    pub gateway_url: String,
    pub app_id: String,
    /// PKCS#1 or PKCS#8 PEM.
    pub app_private_key: SecretString,
    /// Alipay's public key: PEM or the bare base64 the console shows.
    pub alipay_public_key: String,
    #[serde(default = "wechat_fee")]
    pub fee: FeeSettings,
}

/// A card gateway in the style of Stripe.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardSettings {
    pub base_url: String,
    pub secret_key: SecretString,
    /// Signs webhooks (`whsec_…`).
    pub webhook_secret: SecretString,
    #[serde(default = "card_fee")]
    pub fee: FeeSettings,
}

impl PaymentSettings {
    /// The configured fee of a channel (none when it is not configured).
    pub fn fee(&self, channel: tote_shared::payment::ChannelKind) -> Option<FeeSettings> {
        use tote_shared::payment::ChannelKind as C;
        match channel {
            C::Wechat => self.wechat.as_ref().map(|c| c.fee),
            C::Alipay => self.alipay.as_ref().map(|c| c.fee),
            C::Card => self.card.as_ref().map(|c| c.fee),
        }
    }

    pub fn validate(&self) -> Result<(), Invalid> {
        let invalid = |field, why: &'static str| {
            Err(Invalid {
                field,
                why: why.into(),
            })
        };
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return invalid("payment.currency", "must be an ISO 4217 code such as CNY");
        }
        if !(100..=120_000).contains(&self.call_timeout_ms) {
            return invalid("payment.call_timeout_ms", "must be between 100 and 120000");
        }
        if self.query_after_ms < 1_000 || !(10..=60_000).contains(&self.dispatch_interval_ms) {
            return invalid(
                "payment",
                "query_after_ms must be ≥ 1000 and dispatch_interval_ms 10..=60000",
            );
        }
        let urls = [
            ("payment.public_url", self.public_url.as_deref()),
            (
                "payment.wechat.base_url",
                self.wechat.as_ref().map(|c| c.base_url.as_str()),
            ),
            (
                "payment.alipay.gateway_url",
                self.alipay.as_ref().map(|c| c.gateway_url.as_str()),
            ),
            (
                "payment.card.base_url",
                self.card.as_ref().map(|c| c.base_url.as_str()),
            ),
        ];
        for (field, url) in urls {
            if url.is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://"))) {
                return invalid(field, "must be an http:// or https:// URL");
            }
        }
        if self.reconcile_at_hour_utc.is_some_and(|h| h > 23) {
            return invalid("payment.reconcile_at_hour_utc", "must be 0..=23");
        }
        if let Some(wechat) = &self.wechat {
            if wechat.apiv3_key.expose_secret().len() != 32 {
                return invalid("payment.wechat.apiv3_key", "must be 32 bytes");
            }
            if wechat.platform_keys.is_empty() {
                return invalid(
                    "payment.wechat.platform_keys",
                    "needs at least one platform key",
                );
            }
        }
        Ok(())
    }
}

/// The books.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinanceSettings {
    /// How inventory is costed: `fifo` (the default) or `average` (moving weighted average).
    /// Chosen once: the books refuse to start under another method than they were costed by.
    #[serde(default)]
    pub costing: crate::finance::costing::Method,
}

/// Marketing's way out: where campaigns' send lists are delivered.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketingSettings {
    /// The messaging system that takes send lists (`[marketing.send_webhook]`). Unset: send
    /// lists are exported only (`GET /api/v1/marketing/campaigns/{id}/sends`).
    #[serde(default)]
    pub send_webhook: Option<WebhookSettings>,
}

/// A webhook we call: each POST signed `Tote-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of
/// "t.body">` with the secret, and keyed `Idempotency-Key` so a retry is recognised.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: String,
    /// Set it from the environment (`TOTE_CENTRAL__MARKETING__SEND_WEBHOOK__SECRET`).
    pub secret: SecretString,
    #[serde(default = "default_call_timeout_ms")]
    pub timeout_ms: u64,
}

impl MarketingSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        let Some(hook) = &self.send_webhook else {
            return Ok(());
        };
        let invalid = |field, why: &'static str| {
            Err(Invalid {
                field,
                why: why.into(),
            })
        };
        if !(hook.url.starts_with("http://") || hook.url.starts_with("https://"))
            || reqwest::Url::parse(&hook.url).is_err()
        {
            return invalid(
                "marketing.send_webhook.url",
                "must be an http:// or https:// URL",
            );
        }
        if hook.secret.expose_secret().len() < 16 {
            return invalid(
                "marketing.send_webhook.secret",
                "must be at least 16 characters",
            );
        }
        if !(100..=60_000).contains(&hook.timeout_ms) {
            return invalid(
                "marketing.send_webhook.timeout_ms",
                "must be between 100 and 60000",
            );
        }
        Ok(())
    }
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let settings: Settings = load_layered(path, "TOTE_CENTRAL")?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        self.database.validate()?;
        self.payment.validate()?;
        self.logistics.validate()?;
        self.marketing.validate()?;
        for (name, marketplace) in &self.marketplaces {
            marketplace.validate(name)?;
        }
        let invalid = |field, why: &'static str| {
            Err(ConfigError::Invalid(Invalid {
                field,
                why: why.into(),
            }))
        };
        if self.orders.payment_timeout_ms < 1_000 || self.orders.sweep_interval_ms < 10 {
            return invalid(
                "orders",
                "payment_timeout_ms must be ≥ 1000 and sweep_interval_ms ≥ 10",
            );
        }
        if self.retention.idempotency_keys_hours < 1 {
            return invalid("retention.idempotency_keys_hours", "must be at least 1");
        }
        if !(1..=64).contains(&self.orders.intake_shards) {
            return invalid("orders.intake_shards", "must be between 1 and 64");
        }
        if !(1..=200).contains(&self.orders.max_lines) {
            return invalid("orders.max_lines", "must be between 1 and 200");
        }
        for (field, token) in [
            ("auth.admin_token", &self.auth.admin_token),
            ("auth.read_token", &self.auth.read_token),
        ] {
            if token.expose_secret().len() < 16 {
                return invalid(field, "must be at least 16 characters");
            }
        }
        if self.auth.admin_token.expose_secret() == self.auth.read_token.expose_secret() {
            return invalid("auth.read_token", "must differ from auth.admin_token");
        }
        let a = &self.auth;
        if !(1..=a.session_minutes).contains(&a.idle_minutes) {
            return invalid("auth.idle_minutes", "1 to session_minutes");
        }
        if !(5..=7 * 24 * 60).contains(&a.session_minutes)
            || !(1..=64).contains(&a.max_concurrent_hashes)
            || a.max_waiting_hashes > 4096
        {
            return invalid("auth", "session_minutes 5..=10080, max_concurrent_hashes 1..=64, max_waiting_hashes 0..=4096");
        }
        match (&a.bootstrap_admin, &a.bootstrap_password) {
            (None, None) => {}
            (Some(id), Some(password)) if crate::staff::valid_id(id) && crate::staff::check_password(password.expose_secret()).is_ok() => {}
            _ => return invalid("auth.bootstrap_admin", "with auth.bootstrap_password: an id of 1 to 32 letters, digits, '.', '_' or '-' and a password of 12 to 128 characters"),
        }
        if let Some(metrics) = &self.auth.metrics_token {
            let metrics = metrics.expose_secret();
            if metrics.len() < 16 {
                return invalid("auth.metrics_token", "must be at least 16 characters");
            }
            if metrics == self.auth.admin_token.expose_secret()
                || metrics == self.auth.read_token.expose_secret()
            {
                return invalid(
                    "auth.metrics_token",
                    "must differ from auth.admin_token and auth.read_token",
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_loads_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/central.toml");
        let settings = Settings::load(&path).expect("configs/central.toml is valid");
        assert_eq!(settings.payment.currency, "CNY");
        assert_eq!(settings.payment.invoice.tax_rate_bp, 1300);
        assert!(
            settings.payment.wechat.is_none(),
            "the example offers no channel until keys are set"
        );
    }

    #[test]
    fn logistics_settings_refuse_what_could_not_work() {
        let parse = |text: &str| toml::from_str::<LogisticsSettings>(text).expect("parses");
        let ok = parse("tracking_salt = \"s\"\n[aggregator]\nurl = \"https://poll.kuaidi100.com/poll\"\nkey = \"k\"\n[carriers.SF]\nurl = \"https://sfapi.sf-express.com/std/service\"\npartner_id = \"P\"\ncheckword = \"c\"");
        ok.validate()
            .expect("a carrier and an aggregator with a salt");
        assert_eq!(ok.pools.cover_hours, 12, "twelve hours of cover unless set");
        let refused = |text: &str, field: &str| {
            let error = parse(text).validate().expect_err(text);
            assert_eq!(error.field, field, "{text}");
        };
        refused(
            "[aggregator]\nurl = \"https://poll.kuaidi100.com/poll\"\nkey = \"k\"",
            "logistics.tracking_salt",
        );
        refused(
            "[carriers.sf]\nurl = \"https://x\"\npartner_id = \"P\"\ncheckword = \"c\"",
            "logistics.carriers",
        );
        refused(
            "[carriers.SF]\nurl = \"ftp://x\"\npartner_id = \"P\"\ncheckword = \"c\"",
            "logistics.carriers",
        );
        refused(
            "[carriers.SF]\nurl = \"https://x\"\npartner_id = \"P\"\ncheckword = \"\"",
            "logistics.carriers",
        );
        refused("[pools]\nmin_free = 500\nmax_free = 100", "logistics.pools");
        refused("[pools]\ncover_hours = 0", "logistics.pools");
        refused("call_timeout_ms = 5", "logistics");
    }

    #[test]
    fn the_example_risk_rules_load_and_validate() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/risk-rules.toml");
        let text = std::fs::read_to_string(path).expect("configs/risk-rules.toml exists");
        let rules: tote_shared::payment::risk::RiskRules = toml::from_str(&text).expect("parses");
        rules.validate().expect("valid");
    }
}
