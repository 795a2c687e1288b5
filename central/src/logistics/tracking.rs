//! Tracking, pure: the aggregator's pushes in Kuaidi100's format — an HTTP form with `param`
//! (JSON: `lastResult` with the carrier `com`, waybill `nu`, overall `state` and the events in
//! `data`) and `sign`, the upper-case hex MD5 of `param` followed by the salt we gave at
//! subscription — the carriers' states mapped to seven unified ones, and the rule that makes
//! pushes safe to repeat and reorder: a parcel's state is that of its latest event, so an old
//! or duplicate push adds at most history and never rolls the parcel back.

pub use tote_shared::carrier::kuaidi100::sign;
use serde::{Deserialize, Serialize};

/// Most events one push may carry (Kuaidi100 resends the whole history each time).
pub const MAX_EVENTS: usize = 500;
/// Longest event text kept (characters).
pub const MAX_CONTEXT_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackState {
    InfoReceived,
    PickedUp,
    InTransit,
    OutForDelivery,
    Exception,
    Delivered,
    Returned,
}

impl TrackState {
    pub const ALL: [TrackState; 7] = [
        TrackState::InfoReceived,
        TrackState::PickedUp,
        TrackState::InTransit,
        TrackState::OutForDelivery,
        TrackState::Exception,
        TrackState::Delivered,
        TrackState::Returned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrackState::InfoReceived => "info_received",
            TrackState::PickedUp => "picked_up",
            TrackState::InTransit => "in_transit",
            TrackState::OutForDelivery => "out_for_delivery",
            TrackState::Exception => "exception",
            TrackState::Delivered => "delivered",
            TrackState::Returned => "returned",
        }
    }

    pub fn parse(raw: &str) -> Option<TrackState> {
        TrackState::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Kuaidi100's state codes (`lastResult.state`).
    pub fn from_kuaidi100_code(code: &str) -> Option<TrackState> {
        Some(match code {
            "1" => TrackState::PickedUp,
            "0" | "7" | "8" | "10" | "11" | "12" => TrackState::InTransit,
            "5" => TrackState::OutForDelivery,
            "2" | "13" => TrackState::Exception,
            "3" => TrackState::Delivered,
            "4" | "6" | "14" => TrackState::Returned,
            _ => return None,
        })
    }

    /// Kuaidi100's per-event status words.
    pub fn from_kuaidi100_word(word: &str) -> Option<TrackState> {
        Some(match word {
            "揽收" => TrackState::PickedUp,
            "在途" | "转投" | "清关" | "待清关" | "清关中" | "已清关" => TrackState::InTransit,
            "派件" => TrackState::OutForDelivery,
            "疑难" | "清关异常" => TrackState::Exception,
            "签收" => TrackState::Delivered,
            "退签" | "退回" | "拒签" => TrackState::Returned,
            _ => return None,
        })
    }

    /// Delivered and returned end a parcel's journey.
    pub fn is_final(self) -> bool {
        matches!(self, TrackState::Delivered | TrackState::Returned)
    }
}

/// One tracking event as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrackEvent {
    pub at_ms: i64,
    pub state: TrackState,
    /// The carrier's words, as sent.
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
}

/// A push, read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// Kuaidi100's carrier code (`shunfeng`, `jd`, …).
    pub company: String,
    pub waybill: String,
    pub events: Vec<TrackEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the signature does not match")]
    Signature,
    #[error("param is not a tracking result: {0}")]
    Format(String),
}

/// Checks the signature (in constant time) and reads the push.
pub fn open(param: &str, signature: &str, salt: &str) -> Result<Push, PushError> {
    let expected = sign(param, salt);
    let given = signature.trim().to_ascii_uppercase();
    if !tote_shared::runtime::secrets::same_secret(&expected, &given) {
        return Err(PushError::Signature);
    }
    read(param)
}

#[derive(Deserialize)]
struct Param {
    #[serde(rename = "lastResult")]
    last_result: LastResult,
}

#[derive(Deserialize)]
struct LastResult {
    com: String,
    nu: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    context: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    ftime: String,
    #[serde(default)]
    status: String,
    #[serde(default, rename = "areaName")]
    area_name: Option<String>,
}

fn read(param: &str) -> Result<Push, PushError> {
    let bad = |why: &str| PushError::Format(why.to_owned());
    let parsed: Param = serde_json::from_str(param).map_err(|e| PushError::Format(e.to_string()))?;
    let last = parsed.last_result;
    let plain = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plain(&last.nu, 40) || !plain(&last.com, 32) {
        return Err(bad("com and nu must be 1 to 32 / 40 letters, digits, '-' or '_'"));
    }
    if last.data.len() > MAX_EVENTS {
        return Err(bad("too many events"));
    }
    let overall = TrackState::from_kuaidi100_code(&last.state);
    let newest = last.data.iter().map(stamp).max().flatten();
    let mut events = Vec::with_capacity(last.data.len());
    for datum in &last.data {
        let at_ms = stamp(datum).ok_or_else(|| bad("an event's time is not YYYY-MM-DD HH:MM:SS"))?;
        // An event without a known word takes the overall state if it is the newest, else in transit.
        let state = TrackState::from_kuaidi100_word(datum.status.trim())
            .or(if Some(at_ms) == newest { overall } else { None })
            .unwrap_or(TrackState::InTransit);
        let context: String = datum.context.chars().take(MAX_CONTEXT_CHARS).collect();
        if tote_shared::text::check_chars("context", &context).is_err() {
            return Err(bad("an event's text carries a forbidden character"));
        }
        let area = datum.area_name.as_ref().map(|a| a.chars().take(100).collect::<String>()).filter(|a| tote_shared::text::check_chars("area", a).is_ok());
        events.push(TrackEvent { at_ms, state, context, area });
    }
    Ok(Push { company: last.com, waybill: last.nu, events })
}

fn stamp(d: &Datum) -> Option<i64> {
    let raw = if d.ftime.is_empty() { &d.time } else { &d.ftime };
    local_ms(raw)
}

/// `YYYY-MM-DD HH:MM:SS` in China Standard Time (Kuaidi100 writes local time) → Unix ms.
pub fn local_ms(raw: &str) -> Option<i64> {
    tote_shared::calendar::parse_local_time(raw.trim(), super::CHINA_OFFSET_MS).ok()
}

/// What a push does to a parcel: the events not seen before, and the parcel's new state and
/// its time if the newest event moved it forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub new_events: Vec<TrackEvent>,
    pub state: Option<(TrackState, i64)>,
}

/// `current` is the parcel's state and the time of the event that set it; `known` the events
/// kept so far (by time and text). The state is a function of the set of events — the latest
/// final one (delivered, returned) if any, else the latest one, the later stage at the same
/// instant — so pushes may come in any order and any number of times.
pub fn apply(current: Option<(TrackState, i64)>, known: &std::collections::HashSet<(i64, String)>, events: &[TrackEvent]) -> Applied {
    let mut new_events: Vec<TrackEvent> = Vec::new();
    for event in events {
        if !known.contains(&(event.at_ms, event.context.clone())) && !new_events.iter().any(|e| e.at_ms == event.at_ms && e.context == event.context) {
            new_events.push(event.clone());
        }
    }
    new_events.sort_by_key(|e| (e.at_ms, e.state));
    let key = |(state, at): (TrackState, i64)| (state.is_final(), at, state);
    let newest = new_events.iter().map(|e| (e.state, e.at_ms)).max_by_key(|&c| key(c));
    let state = match (current, newest) {
        (Some(c), Some(n)) if key(n) > key(c) => Some(n),
        (None, Some(n)) => Some(n),
        _ => None,
    };
    Applied { new_events, state }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn event(at_ms: i64, state: TrackState) -> TrackEvent {
        TrackEvent { at_ms, state, context: format!("{state:?} at {at_ms}"), area: None }
    }

    #[test]
    fn a_push_signed_with_our_salt_opens_and_any_other_signature_is_refused() {
        let param = r#"{"status":"polling","message":"","lastResult":{"message":"ok","state":"3","status":"200","condition":"F00","ischeck":"1","com":"shunfeng","nu":"SF1234567890","data":[{"context":"已签收,签收人:本人","time":"2026-12-02 10:20:30","ftime":"2026-12-02 10:20:30","status":"签收","areaName":"浙江省杭州市"},{"context":"快件已揽收","time":"2026-12-01 18:00:00","ftime":"2026-12-01 18:00:00","status":"揽收"}]}}"#;
        let signature = sign(param, "salt-1");
        assert_eq!(signature.len(), 32);
        let push = open(param, &signature.to_lowercase(), "salt-1").expect("opens");
        assert_eq!((push.company.as_str(), push.waybill.as_str()), ("shunfeng", "SF1234567890"));
        assert_eq!(push.events.iter().map(|e| e.state).collect::<Vec<_>>(), vec![TrackState::Delivered, TrackState::PickedUp]);
        assert_eq!(push.events[0].at_ms, local_ms("2026-12-02 10:20:30").expect("time"));
        assert_eq!(local_ms("1970-01-01 08:00:00"), Some(0), "CST is UTC+8");
        assert_eq!(open(param, &signature, "salt-2"), Err(PushError::Signature));
        assert_eq!(open(&param.replace("3", "4"), &signature, "salt-1"), Err(PushError::Signature));
    }

    #[test]
    fn duplicates_and_older_pushes_add_history_at_most_and_never_roll_a_parcel_back() {
        let picked = event(1_000, TrackState::PickedUp);
        let out = event(3_000, TrackState::OutForDelivery);
        let applied = apply(None, &HashSet::new(), &[out.clone(), picked.clone()]);
        assert_eq!(applied.state, Some((TrackState::OutForDelivery, 3_000)));
        assert_eq!(applied.new_events, vec![picked.clone(), out.clone()]);
        let known: HashSet<(i64, String)> = applied.new_events.iter().map(|e| (e.at_ms, e.context.clone())).collect();
        let again = apply(applied.state, &known, &[out.clone(), picked.clone()]);
        assert_eq!(again, Applied { new_events: vec![], state: None }, "a duplicate changes nothing");
        let late = event(2_000, TrackState::InTransit);
        let older = apply(applied.state, &known, std::slice::from_ref(&late));
        assert_eq!(older, Applied { new_events: vec![late], state: None }, "an older event is history only");
    }

    #[test]
    fn a_delivered_parcel_only_moves_to_a_later_final_state() {
        let delivered = Some((TrackState::Delivered, 5_000));
        assert_eq!(apply(delivered, &HashSet::new(), &[event(6_000, TrackState::InTransit)]).state, None);
        assert_eq!(apply(delivered, &HashSet::new(), &[event(7_000, TrackState::Returned)]).state, Some((TrackState::Returned, 7_000)));
    }

    #[test]
    fn a_malformed_param_is_refused_whole() {
        let signed = |param: &str| open(param, &sign(param, "s"), "s");
        assert!(matches!(signed("{}"), Err(PushError::Format(_))));
        assert!(matches!(signed(r#"{"lastResult":{"com":"sf","nu":"SF 1","data":[]}}"#), Err(PushError::Format(_))));
        let bad_time = r#"{"lastResult":{"com":"sf","nu":"SF1","data":[{"context":"x","time":"yesterday"}]}}"#;
        assert!(matches!(signed(bad_time), Err(PushError::Format(_))));
        let bidi = r#"{"lastResult":{"com":"sf","nu":"SF1","data":[{"context":"a\u202eb","time":"2026-12-02 10:20:30"}]}}"#;
        assert!(matches!(signed(bidi), Err(PushError::Format(_))));
    }

    proptest::proptest! {
        /// Whatever order and repetition the same events arrive in, the parcel ends in the same
        /// state with the same history.
        #[test]
        fn any_order_and_repetition_of_pushes_ends_in_the_same_state(
            raw in proptest::collection::vec((0i64..20, 0usize..7), 1..12),
            order in proptest::collection::vec(0usize..64, 1..30),
        ) {
            let events: Vec<TrackEvent> = raw.iter().map(|&(t, s)| event(t * 1_000, TrackState::ALL[s])).collect();
            let calm = apply(None, &HashSet::new(), &events);
            let (mut state, mut known) = (None, HashSet::new());
            for &i in &order {
                let push = &events[..=(i % events.len())];
                let applied = apply(state, &known, push);
                known.extend(applied.new_events.iter().map(|e| (e.at_ms, e.context.clone())));
                state = applied.state.or(state);
            }
            let applied = apply(state, &known, &events);
            known.extend(applied.new_events.iter().map(|e| (e.at_ms, e.context.clone())));
            state = applied.state.or(state);
            let all: HashSet<(i64, String)> = calm.new_events.iter().map(|e| (e.at_ms, e.context.clone())).collect();
            proptest::prop_assert_eq!(known, all);
            proptest::prop_assert_eq!(state, calm.state);
        }
    }
}
