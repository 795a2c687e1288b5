//! Carried out against the store: profiles, attribution, tiers and points from the journal
//! (`MarketingConsumer`; `loyalty.rs` for tiers and points), segments defined, campaigns sent, and what a campaign earned
//! (`campaigns.rs` holds the rules).

use super::campaigns::{Earned, Profile, SegmentRule};
use super::{coupons, loyalty, store, MarketingError};
use crate::db::{DbError, DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use serde::{Deserialize, Serialize};
use tote_shared::calendar::utc_day;
use tote_shared::Sku;

/// Keeps customers' profiles, segments' members and campaigns' figures from the journal.
pub struct MarketingConsumer;

impl Consumer for MarketingConsumer {
    fn name(&self) -> &'static str {
        "marketing"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        for entry in entries {
            apply_one(tx, entry)?;
        }
        Ok(())
    }
}

fn apply_one(tx: &mut dyn Tx, e: &JournalEntry) -> DbResult<()> {
    let day = utc_day(e.at_ms);
    match &e.event {
        BusinessEvent::OrderCreated { order_id, customer: Some(customer), .. } => {
            store::remember_order(tx, *order_id, customer)?;
            // The campaign that brought them, unless a campaign's coupon says otherwise.
            let policy = store::policy(tx)?.attribution;
            let touches = store::touches_between(tx, customer, e.at_ms - policy.lookback_ms(), e.at_ms)?;
            let Some(t) = policy.attribute(&touches, e.at_ms) else { return Ok(()) };
            let a = store::Attribution { order_id: *order_id, campaign: t.campaign.clone(), discount: 0, state: "touched".into(), revenue_left: 0, unsold: 0 };
            store::put_attribution(tx, &a, e.at_ms)
        }
        BusinessEvent::OrderPaid { order_id, lines, total, .. } => {
            let Some(customer) = store::customer_of(tx, *order_id)? else { return Ok(()) };
            store::add_paid(tx, &customer, lines.iter().map(|l| l.qty.as_i64()).sum(), *total, e.at_ms)?;
            store::set_order_paid(tx, *order_id, *total, e.at_ms)?;
            loyalty::spent(tx, &customer, *total, e.at_ms, e.at_ms)?;
            resegment(tx, &customer, e.at_ms)
        }
        BusinessEvent::OrderDelivered { order_id, .. } => loyalty::earn(tx, *order_id, e.at_ms),
        // A tier the sweep changed at a period's end: segments by tier see it.
        BusinessEvent::MemberTierChanged { customer, .. } => resegment(tx, customer, e.at_ms),
        BusinessEvent::OrderCompleted { order_id } => loyalty::unlock(tx, *order_id, e.at_ms),
        BusinessEvent::RefundRequested { refund_id, reason, .. } if reason == crate::journal::LATE_PAYMENT_REFUND => store::set_refund_aside(tx, *refund_id),
        // Money paid after the order ended going back: never the order's, counted nowhere.
        BusinessEvent::RefundSucceeded { refund_id, .. } if store::refund_aside(tx, *refund_id)? => Ok(()),
        BusinessEvent::RefundSucceeded { order_id, amount, .. } => {
            if let Some(customer) = store::customer_of(tx, *order_id)? {
                store::add_refund(tx, &customer, *amount)?;
                if loyalty::refunded(tx, *order_id, *amount, e.at_ms)? {
                    release_wholly_refunded(tx, *order_id, &customer, e.at_ms)?;
                }
                resegment(tx, &customer, e.at_ms)?;
            }
            // Money back counts against a campaign only as far as it gives back what shipped:
            // a cancelled part's refund takes its `unsold` value first, and a refund before
            // anything shipped released the coupon anyway.
            for mut a in store::attributions(tx, *order_id)?.into_iter().filter(|a| a.state == "shipped") {
                let unsold = (*amount).min(a.unsold.max(0));
                let refunded = (amount - unsold).min(a.revenue_left.max(0));
                (a.unsold, a.revenue_left) = (a.unsold - unsold, a.revenue_left - refunded);
                store::put_attribution(tx, &a, e.at_ms)?;
                store::add_earned(tx, &a.campaign, &day, &Earned { refunded, ..Earned::default() })?;
            }
            Ok(())
        }
        BusinessEvent::OrderPartsCancelled { order_id, lines } => {
            let value: i64 = lines.iter().map(|l| l.amount()).sum();
            for mut a in store::attributions(tx, *order_id)?.into_iter().filter(|a| a.state != "released") {
                a.unsold += value;
                store::put_attribution(tx, &a, e.at_ms)?;
            }
            Ok(())
        }
        BusinessEvent::ReturnReceived { order_id, lines, .. } => {
            let customer = store::customer_of(tx, *order_id)?;
            let mut back = Earned::default();
            for l in lines {
                let (spu, size, cost) = sku_facts(tx, &l.sku)?;
                if let Some(customer) = &customer {
                    store::add_bought(tx, customer, &spu, &size, -(l.passed + l.failed))?;
                }
                // What came back sellable is stock again, not cost.
                back.cost -= l.passed * cost;
            }
            if let Some(customer) = &customer {
                resegment(tx, customer, e.at_ms)?;
            }
            for a in store::attributions(tx, *order_id)?.into_iter().filter(|a| a.state == "shipped") {
                store::add_earned(tx, &a.campaign, &day, &back)?;
            }
            Ok(())
        }
        BusinessEvent::CouponRedeemed { order_id, promotion, discount } => {
            let Some(campaign) = store::campaign_of_coupon(tx, promotion)? else { return Ok(()) };
            store::drop_touched(tx, *order_id)?;
            let a = store::Attribution { order_id: *order_id, campaign, discount: *discount, state: "redeemed".into(), revenue_left: 0, unsold: 0 };
            store::put_attribution(tx, &a, e.at_ms)?;
            store::add_earned(tx, &a.campaign, &day, &Earned { redemptions: 1, discount: *discount, ..Earned::default() })
        }
        BusinessEvent::CouponReleased { order_id, promotion } => {
            let Some(campaign) = store::campaign_of_coupon(tx, promotion)? else { return Ok(()) };
            let Some(mut a) = store::attributions(tx, *order_id)?.into_iter().find(|a| a.campaign == campaign && a.state != "released") else { return Ok(()) };
            a.state = "released".into();
            store::put_attribution(tx, &a, e.at_ms)?;
            store::add_earned(tx, &campaign, &day, &Earned { redemptions: -1, discount: -a.discount, ..Earned::default() })
        }
        BusinessEvent::OrderShipped { order_id, lines, .. } => {
            // What a customer bought is what reached them (an exchange's replacement too,
            // which is never paid for), less what came back.
            if let Some(customer) = store::customer_of(tx, *order_id)? {
                for l in lines {
                    let (spu, size, _) = sku_facts(tx, &l.sku)?;
                    if store::spu_units(tx, &customer, &spu)? <= 0 {
                        // A model new to this customer: a pair with every model they have.
                        for other in store::spus_bought(tx, &customer)?.into_iter().filter(|o| *o != spu) {
                            store::add_pair(tx, &spu, &other)?;
                        }
                    }
                    store::add_bought(tx, &customer, &spu, &size, l.qty.as_i64())?;
                }
                resegment(tx, &customer, e.at_ms)?;
            }
            // Each campaign whose code the order took sees the whole order (two campaigns'
            // codes on one order: their figures overlap, they do not add up); without a code,
            // the campaign whose link or message brought the customer (`touched`).
            let attributed: Vec<store::Attribution> = store::attributions(tx, *order_id)?.into_iter().filter(|a| a.state != "released").collect();
            if attributed.is_empty() {
                return Ok(());
            }
            let mut shipped = Earned::default();
            for l in lines {
                shipped.revenue += l.amount();
                shipped.cost += l.qty.as_i64() * sku_facts(tx, &l.sku)?.2;
            }
            for mut a in attributed {
                let first = a.state != "shipped";
                (a.state, a.revenue_left) = ("shipped".into(), a.revenue_left + shipped.revenue);
                store::put_attribution(tx, &a, e.at_ms)?;
                store::add_earned(tx, &a.campaign, &day, &Earned { orders: i64::from(first), ..shipped.clone() })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Everything the order paid came back (a whole return, or a paid cancel): its coupon codes
/// are the customer's again, as a cancel before payment gives them back.
fn release_wholly_refunded(tx: &mut dyn Tx, order_id: u64, customer: &str, at_ms: i64) -> DbResult<()> {
    for code in super::release_coupons(tx, order_id, Some(customer), at_ms)? {
        crate::journal::store::append(tx, &BusinessEvent::CouponReleased { order_id, promotion: code.promotion }, at_ms)?;
    }
    Ok(())
}

/// A SKU's model, size and standard cost.
fn sku_facts(tx: &mut dyn Tx, sku: &Sku) -> DbResult<(String, String, i64)> {
    match crate::catalog::store::get_sku(tx, sku) {
        Ok(record) => Ok((record.spu_id, record.size, record.cost.minor())),
        Err(crate::catalog::CatalogError::Db(e)) => Err(e),
        Err(other) => Err(DbError::corrupt(format!("a journalled SKU: {other}"))),
    }
}

/// The customer's profile with their tier as of `now_ms` (None when they have no profile).
pub fn profile(tx: &mut dyn Tx, customer: &str, now_ms: i64) -> DbResult<Option<Profile>> {
    let Some(mut profile) = store::profile(tx, customer)? else { return Ok(None) };
    let policy = store::policy(tx)?.membership;
    let tier = loyalty::tier_of(tx, &policy, customer, now_ms)?.tier;
    profile.tier = policy.name(tier).to_owned();
    profile.tiers_reached = policy.tiers.iter().take(tier + 1).map(|t| t.name.clone()).collect();
    Ok(Some(profile))
}

/// Tests the customer against every segment.
fn resegment(tx: &mut dyn Tx, customer: &str, now_ms: i64) -> DbResult<()> {
    let Some(profile) = profile(tx, customer, now_ms)? else { return Ok(()) };
    for (segment, rule) in store::segments(tx)? {
        store::set_member(tx, &segment, customer, rule.matches(&profile, now_ms), now_ms)?;
    }
    Ok(())
}

/// A segment as defined, with how many customers it holds.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    pub id: String,
    pub rule: SegmentRule,
    pub members: i64,
}

/// HQ defines (or redefines) a segment: every customer is tested once now; from then on each
/// is tested again when their profile changes. Audited.
pub fn define_segment(tx: &mut dyn Tx, id: &str, rule: &SegmentRule, now_ms: i64) -> Result<Segment, MarketingError> {
    if !super::plain(id) {
        return Err(MarketingError::Invalid("id: 1 to 40 letters, digits, '-' or '_'".into()));
    }
    if let Some(why) = rule.problem() {
        return Err(MarketingError::Invalid(why));
    }
    // The consumer's position row first: a batch it is applying finishes before this pass
    // reads the profiles, and its next batch sees the segment (else each could miss the
    // other's change on PostgreSQL and a customer fall between them).
    crate::journal::store::lock_position(tx, MarketingConsumer.name(), now_ms)?;
    store::put_segment(tx, id, rule, now_ms)?;
    let mut after = String::new();
    loop {
        let page = store::customers_after(tx, &after, 500)?;
        for customer in &page {
            let profile = profile(tx, customer, now_ms)?.unwrap_or_else(|| Profile { customer: customer.clone(), ..Profile::default() });
            store::set_member(tx, id, customer, rule.matches(&profile, now_ms), now_ms)?;
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = last.clone(),
            _ => break,
        }
    }
    crate::audit::store::append(tx, now_ms, "admin", "segment_defined", &format!("segment:{id}"), &serde_json::to_value(rule).map_err(|e| DbError::corrupt(e.to_string()))?)?;
    Ok(Segment { id: id.to_owned(), rule: rule.clone(), members: store::member_count(tx, id)? })
}

/// A campaign: a segment, and the coupon it sends them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    #[serde(default)]
    pub id: String,
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub name: String,
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub segment: String,
    /// A published coupon (a promotion with coupon terms), used by no other campaign.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,40}$")]
    pub coupon: String,
}

pub fn put_campaign(tx: &mut dyn Tx, c: &Campaign, now_ms: i64) -> Result<Campaign, MarketingError> {
    if !super::plain(&c.id) || !tote_shared::text::is_clean(&c.name, 100) {
        return Err(MarketingError::Invalid("id: 1 to 40 letters, digits, '-' or '_'; name: 1 to 100 characters".into()));
    }
    if !store::segments(tx)?.iter().any(|(id, _)| *id == c.segment) {
        return Err(MarketingError::Invalid(format!("segment {} is not defined", c.segment)));
    }
    if store::get(tx, &c.coupon)?.and_then(|p| p.coupon).is_none() {
        return Err(MarketingError::Invalid(format!("{} is not a published coupon", c.coupon)));
    }
    if store::campaign_of_coupon(tx, &c.coupon)?.is_some_and(|other| other != c.id) {
        return Err(MarketingError::Invalid(format!("coupon {} belongs to another campaign", c.coupon)));
    }
    store::put_campaign(tx, &(c.id.clone(), c.name.clone(), c.segment.clone(), c.coupon.clone()), now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "campaign_defined", &format!("campaign:{}", c.id), &serde_json::to_value(c).map_err(|e| DbError::corrupt(e.to_string()))?)?;
    Ok(c.clone())
}

/// One line of a campaign's send list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Send {
    pub customer: String,
    pub code: String,
    pub sent_ms: i64,
}

/// Sends the campaign to its segment: each member who still meets the rule and was not sent
/// it before gets a code of the coupon of their own. At most `coupons::MAX_ISSUE` per call
/// (call again for the rest). The send list is kept as a delivery in the same transaction —
/// for the messaging system's webhook when `webhook` (`webhook.rs` delivers it), else as an
/// export — and returned. Audited (the count).
pub fn send(tx: &mut dyn Tx, id: &str, webhook: bool, now_ms: i64) -> Result<Vec<Send>, MarketingError> {
    let (_, _, segment, coupon) = store::campaign(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("campaign {id}")))?;
    let rule = store::segments(tx)?.into_iter().find(|(s, _)| *s == segment).map(|(_, r)| r).ok_or_else(|| DbError::corrupt("a campaign's segment is gone"))?;
    let record = store::get(tx, &coupon)?.ok_or_else(|| DbError::corrupt("a campaign's coupon is gone"))?;
    let terms = record.coupon.ok_or_else(|| DbError::corrupt("a campaign's coupon has no terms"))?;
    if record.state != "live" || record.ends_ms <= now_ms {
        return Err(MarketingError::Invalid(format!("coupon {coupon} is {}: publish it again to send the campaign", if record.state != "live" { "withdrawn" } else { "over" })));
    }
    let room = usize::try_from((coupons::MAX_CODES - terms.issued).max(0)).unwrap_or(0).min(coupons::MAX_ISSUE as usize);
    let mut sent = Vec::new();
    let mut after = String::new();
    'pages: loop {
        let page = store::members(tx, &segment, &after, 500)?;
        for customer in &page {
            if sent.len() >= room {
                break 'pages;
            }
            let still = profile(tx, customer, now_ms)?.is_some_and(|p| rule.matches(&p, now_ms));
            if !still || store::sent_to(tx, id, customer)? {
                continue;
            }
            let code = super::fresh_codes(1)?.remove(0);
            if !store::insert_code(tx, &coupon, &code, Some(customer), now_ms)? {
                continue;
            }
            store::add_send(tx, id, customer, &code, now_ms)?;
            store::add_touch(tx, customer, id, "send", now_ms)?;
            sent.push(Send { customer: customer.clone(), code, sent_ms: now_ms });
        }
        match page.last() {
            Some(last) if page.len() == 500 => after = last.clone(),
            _ => break,
        }
    }
    store::add_issued(tx, &coupon, sent.len() as i64)?;
    if !sent.is_empty() {
        let body = serde_json::json!({"campaign": id, "coupon": coupon, "sent_ms": now_ms, "sends": sent});
        store::insert_send_batch(tx, id, &body.to_string(), sent.len() as i64, if webhook { "pending" } else { "export" }, now_ms)?;
    }
    crate::audit::store::append(tx, now_ms, "admin", "campaign_sent", &format!("campaign:{id}"), &serde_json::json!({"sent": sent.len()}))?;
    Ok(sent)
}

/// What a campaign earned per day and in all.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Roi {
    pub campaign: String,
    pub days: Vec<RoiDay>,
    pub total: RoiDay,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoiDay {
    /// `YYYY-MM-DD` (UTC); `total` for the span.
    pub day: String,
    #[serde(flatten)]
    pub earned: Earned,
    /// Revenue less refunds less the goods' cost.
    pub margin: i64,
    /// Margin per unit of discount; null before any discount.
    pub roi: Option<f64>,
}

fn roi_day(day: String, earned: Earned) -> RoiDay {
    RoiDay { day, margin: earned.margin(), roi: earned.roi(), earned }
}

pub fn roi(tx: &mut dyn Tx, id: &str, from: &str, to: &str) -> Result<Roi, MarketingError> {
    store::campaign(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("campaign {id}")))?;
    let mut total = Earned::default();
    let days: Vec<RoiDay> = store::earned(tx, id, from, to)?
        .into_iter()
        .map(|(day, e)| {
            total.add(&e);
            roi_day(day, e)
        })
        .collect();
    Ok(Roi { campaign: id.to_owned(), days, total: roi_day("total".into(), total) })
}

/// A campaign as its list shows it: what it is, how many it reached, what it earned in all.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CampaignSummary {
    #[serde(flatten)]
    pub campaign: Campaign,
    pub created_ms: i64,
    /// Codes sent to the segment's members.
    pub sent: i64,
    pub total: RoiDay,
}

/// The newest campaigns first, at most `limit`.
pub fn campaigns(tx: &mut dyn Tx, limit: u32) -> Result<Vec<CampaignSummary>, MarketingError> {
    summaries(tx, None, limit)
}

pub fn campaign(tx: &mut dyn Tx, id: &str) -> Result<CampaignSummary, MarketingError> {
    summaries(tx, Some(id), 1)?.pop().ok_or_else(|| MarketingError::NotFound(format!("campaign {id}")))
}

fn summaries(tx: &mut dyn Tx, only: Option<&str>, limit: u32) -> Result<Vec<CampaignSummary>, MarketingError> {
    Ok(store::campaign_list(tx, only, limit)?
        .into_iter()
        .map(|((id, name, segment, coupon), created_ms, sent, earned)| CampaignSummary {
            campaign: Campaign { id, name, segment, coupon },
            created_ms,
            sent,
            total: roi_day("total".into(), earned),
        })
        .collect())
}

/// Every segment with its rule and how many customers are in it now.
pub fn segments(tx: &mut dyn Tx) -> Result<Vec<Segment>, MarketingError> {
    store::segments(tx)?
        .into_iter()
        .map(|(id, rule)| Ok(Segment { members: store::member_count(tx, &id)?, id, rule }))
        .collect()
}

/// The shop front tells that `customer` came through campaign `id`'s link (its UTM campaign)
/// at `at_ms`: orders they place soon after are attributed to it when no coupon says
/// otherwise.
pub fn touch(tx: &mut dyn Tx, id: &str, customer: &str, at_ms: i64) -> Result<(), MarketingError> {
    if !tote_shared::text::is_clean(customer, 40) {
        return Err(MarketingError::Invalid("customer: 1 to 40 characters".into()));
    }
    store::campaign(tx, id)?.ok_or_else(|| MarketingError::NotFound(format!("campaign {id}")))?;
    Ok(store::add_touch(tx, customer, id, "link", at_ms)?)
}

/// A model recommended beside another, and the SKU of it in the customer's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recommendation {
    pub spu: String,
    /// Customers who bought both.
    pub customers: i64,
    /// The SKU of this model in the size the customer buys most, when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
}

/// "Customers who bought this also bought": the models most often bought by the customers who
/// bought `sku`'s model, leaving out what `customer` has already; each in the size the customer
/// buys most (their most-bought size among the model's SKUs).
pub fn recommend(tx: &mut dyn Tx, sku: &Sku, customer: Option<&str>, limit: u32) -> Result<Vec<Recommendation>, MarketingError> {
    let record = crate::catalog::store::get_sku(tx, sku).map_err(|_| MarketingError::NotFound(format!("SKU {sku}")))?;
    let profile = match customer {
        Some(c) => store::profile(tx, c)?,
        None => None,
    };
    let has = |spu: &str| profile.as_ref().is_some_and(|p| p.bought.iter().any(|b| b.spu == spu && b.units > 0));
    let mut sizes: Vec<(String, i64)> = Vec::new();
    for b in profile.iter().flat_map(|p| &p.bought).filter(|b| b.units > 0) {
        match sizes.iter_mut().find(|(s, _)| *s == b.size) {
            Some(seen) => seen.1 += b.units,
            None => sizes.push((b.size.clone(), b.units)),
        }
    }
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut out = Vec::new();
    for (spu, customers) in store::also_bought(tx, &record.spu_id, limit.saturating_mul(2))? {
        if has(&spu) || out.len() >= limit as usize {
            continue;
        }
        let skus = crate::catalog::store::skus_of_spu(tx, &spu)?;
        let sized = sizes.iter().find_map(|(size, _)| skus.iter().find(|s| &s.size == size)).map(|s| s.sku.clone());
        out.push(Recommendation { spu, customers, sku: sized });
    }
    Ok(out)
}
