//! Marketing: what a customer pays and why. This first part is checkout pricing (`pricing.rs`,
//! pure): promotions in layers with a combination matrix, JD's sequential and Tmall's parallel
//! thresholds, the best allowed stack found by search, every discount allocated to lines by
//! largest remainder, and no line sold below its floor. Coupons, flash sales, membership,
//! points, segments and attribution come with their tables and routes.

pub mod floors;
pub mod pricing;

#[cfg(test)]
mod tests;
