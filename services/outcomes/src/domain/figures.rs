//! A report's figures and their bounds.

use super::*;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::FromRow,
)]
pub struct Figures {
    pub models_developed: i64,
    pub models_improved: i64,
    pub models_commercialized: i64,
    pub patents_filed: i64,
    pub patents_registered: i64,
    pub papers: i64,
    pub new_hires: i64,
    pub revenue_krw: i64,
    pub investment_krw: i64,
}

/// The most one report may claim of a count (models, patents, papers, hires): far beyond a
/// quarter of any pilot, and small enough that the programme's sums stay inside GraphQL's Int.
pub const MAX_COUNT: i64 = 10_000;
/// The most one report may claim in won (revenue, investment): 1,000조.
pub const MAX_KRW: i64 = 1_000_000_000_000_000;

impl Figures {
    /// Each figure with its API name, in the order the API lists them.
    pub fn named(&self) -> [(&'static str, i64); 9] {
        [
            ("modelsDeveloped", self.models_developed),
            ("modelsImproved", self.models_improved),
            ("modelsCommercialized", self.models_commercialized),
            ("revenueKrw", self.revenue_krw),
            ("patentsFiled", self.patents_filed),
            ("patentsRegistered", self.patents_registered),
            ("papers", self.papers),
            ("newHires", self.new_hires),
            ("investmentKrw", self.investment_krw),
        ]
    }

    pub fn validate(&self) -> Result<(), ReportsError> {
        for (field, value) in self.named() {
            if value < 0 {
                return Err(ReportsError::invalid(field, "must not be negative"));
            }
            let max = if field.ends_with("Krw") {
                MAX_KRW
            } else {
                MAX_COUNT
            };
            if value > max {
                return Err(ReportsError::invalid(
                    field,
                    format!("must be at most {max}"),
                ));
            }
        }
        let base = self.models_developed.saturating_add(self.models_improved);
        if self.models_commercialized > base {
            return Err(ReportsError::invalid(
                "modelsCommercialized",
                format!(
                    "must not exceed modelsDeveloped + modelsImproved ({base}): a report cannot \
                     claim more commercialized models than it developed or improved"
                ),
            ));
        }
        Ok(())
    }

    /// Saturating, so a corrupt row cannot wrap a published total negative.
    pub fn add(&mut self, other: &Figures) {
        self.models_developed = self.models_developed.saturating_add(other.models_developed);
        self.models_improved = self.models_improved.saturating_add(other.models_improved);
        self.models_commercialized = self
            .models_commercialized
            .saturating_add(other.models_commercialized);
        self.patents_filed = self.patents_filed.saturating_add(other.patents_filed);
        self.patents_registered = self
            .patents_registered
            .saturating_add(other.patents_registered);
        self.papers = self.papers.saturating_add(other.papers);
        self.new_hires = self.new_hires.saturating_add(other.new_hires);
        self.revenue_krw = self.revenue_krw.saturating_add(other.revenue_krw);
        self.investment_krw = self.investment_krw.saturating_add(other.investment_krw);
    }
}
