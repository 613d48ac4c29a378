//! The demo data covers what the console must show.

use axv_onboarding::domain::{CompanyStatus, Sector};

use super::*;

#[test]
fn every_state_and_every_industry_is_shown() {
    for status in CompanyStatus::ALL {
        assert!(COMPANIES.iter().any(|c| c.status == *status), "{status}");
    }
    for sector in Sector::ALL {
        assert!(COMPANIES.iter().any(|c| c.sector == *sector), "{sector}");
    }
}

#[test]
fn paths_end_where_they_should() {
    for status in CompanyStatus::ALL {
        let end = path_to(*status)
            .iter()
            .try_fold(CompanyStatus::Draft, |state, (action, _)| {
                action.apply(state)
            });
        assert_eq!(end.ok(), Some(*status));
    }
}

#[test]
fn demo_pilots_cover_every_state_and_every_domain_but_other() {
    use axv_pilots::domain::{PilotDomain, PilotStatus};
    for status in PilotStatus::ALL {
        assert!(PILOTS.iter().any(|p| p.9 == status.as_str()), "{status}");
    }
    for domain in PilotDomain::ALL
        .iter()
        .filter(|d| **d != PilotDomain::Other)
    {
        assert!(PILOTS.iter().any(|p| p.3 == domain.as_str()), "{domain}");
    }
    for pilot in PILOTS {
        assert!(
            COMPANIES.iter().any(|c| c.business_number == pilot.0),
            "lead {}",
            pilot.0
        );
    }
}

#[test]
fn business_numbers_are_valid() {
    for demo in COMPANIES {
        assert!(
            axv_onboarding::domain::BusinessNumber::parse(demo.business_number).is_ok(),
            "{}",
            demo.business_number
        );
    }
}
