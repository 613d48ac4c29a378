//! What a document's parent is, asked of the service that owns it with the caller's own token:
//! that service's visibility rules decide who sees the parent (and so its documents), so no
//! rule is written twice. Anything the caller may not see in full is NOT_FOUND.

use axv_auth::Caller;
use axv_proto::{
    onboarding::v1::{self as onboarding, onboarding_service_client::OnboardingServiceClient},
    outcomes::v1::{self as outcomes, outcomes_service_client::OutcomesServiceClient},
    pilots::v1::{self as pilots, pilots_service_client::PilotsServiceClient},
    vouchers::v1::{self as vouchers, vouchers_service_client::VouchersServiceClient},
};
use tonic::transport::Channel;

use crate::{
    domain::{ParentKind, ParentView, Stage},
    error::DocumentsError,
};

/// A parent as a request names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParentRef {
    pub kind: ParentKind,
    pub id: String,
    /// A milestone's pilot.
    pub pilot_id: String,
}

#[derive(Clone)]
pub struct Parents {
    pub onboarding: OnboardingServiceClient<Channel>,
    pub vouchers: VouchersServiceClient<Channel>,
    pub pilots: PilotsServiceClient<Channel>,
    pub outcomes: OutcomesServiceClient<Channel>,
}

fn what(kind: ParentKind) -> &'static str {
    match kind {
        ParentKind::Company => "company",
        ParentKind::VoucherApplication => "voucher application",
        ParentKind::Pilot => "pilot",
        ParentKind::Milestone => "milestone",
        ParentKind::OutcomeReport => "outcome report",
    }
}

fn company_stage(status: onboarding::CompanyStatus) -> Stage {
    use onboarding::CompanyStatus as S;
    match status {
        S::Draft | S::ChangesRequested => Stage::FirmEditing,
        S::Submitted | S::UnderReview => Stage::UnderReview,
        _ => Stage::Closed,
    }
}

fn application_stage(status: vouchers::ApplicationStatus) -> Stage {
    // An application has no draft: the firm attaches its plan until a manager decides.
    if status == vouchers::ApplicationStatus::Submitted {
        Stage::FirmEditing
    } else {
        Stage::Closed
    }
}

fn pilot_stage(status: pilots::PilotStatus) -> Stage {
    use pilots::PilotStatus as S;
    match status {
        S::Draft => Stage::FirmEditing,
        S::Submitted => Stage::UnderReview,
        S::Approved | S::Active => Stage::Running,
        _ => Stage::Closed,
    }
}

fn report_stage(status: outcomes::ReportStatus) -> Stage {
    use outcomes::ReportStatus as S;
    match status {
        S::Draft | S::Returned => Stage::FirmEditing,
        S::Submitted => Stage::UnderReview,
        _ => Stage::Closed,
    }
}

impl Parents {
    /// The parent as `caller` sees it; NOT_FOUND unless they see it in full.
    pub async fn view(
        &self,
        caller: &Caller,
        parent: &ParentRef,
    ) -> Result<ParentView, DocumentsError> {
        let token = Some(caller.raw_token.as_ref());
        let not_found = DocumentsError::NotFound(what(parent.kind));
        if !axv_platform::ids::is_valid_id(&parent.id) {
            return Err(not_found);
        }
        // The owner refusing the caller's role is, for documents, a parent not found.
        let upstream = |status: tonic::Status| {
            if status.code() == tonic::Code::PermissionDenied {
                DocumentsError::NotFound(what(parent.kind))
            } else {
                DocumentsError::upstream(what(parent.kind))(status)
            }
        };
        let view = |company_id: String, version: i32, stage: Stage| ParentView {
            kind: parent.kind,
            id: parent.id.clone(),
            company_id,
            version,
            stage,
        };
        match parent.kind {
            ParentKind::Company => {
                let request = onboarding::GetCompanyRequest {
                    id: parent.id.clone(),
                };
                let company = self
                    .onboarding
                    .clone()
                    .get_company(DocumentsError::request(token, request)?)
                    .await
                    .map_err(upstream)?
                    .into_inner()
                    .company
                    .filter(|c| c.full_view)
                    .ok_or(not_found)?;
                Ok(view(company.id.clone(), 0, company_stage(company.status())))
            }
            ParentKind::VoucherApplication => {
                let request = vouchers::GetApplicationRequest {
                    id: parent.id.clone(),
                };
                let application = self
                    .vouchers
                    .clone()
                    .get_application(DocumentsError::request(token, request)?)
                    .await
                    .map_err(upstream)?
                    .into_inner()
                    .application
                    .ok_or(not_found)?;
                let stage = application_stage(application.status());
                Ok(view(application.company_id, 0, stage))
            }
            ParentKind::Pilot | ParentKind::Milestone => {
                let pilot_id = match parent.kind {
                    ParentKind::Milestone => &parent.pilot_id,
                    _ => &parent.id,
                };
                if !axv_platform::ids::is_valid_id(pilot_id) {
                    return Err(not_found);
                }
                let request = pilots::GetPilotRequest {
                    id: pilot_id.clone(),
                };
                let pilot = self
                    .pilots
                    .clone()
                    .get_pilot(DocumentsError::request(token, request)?)
                    .await
                    .map_err(upstream)?
                    .into_inner()
                    .pilot
                    .filter(|p| p.full_view)
                    .ok_or_else(|| DocumentsError::NotFound(what(parent.kind)))?;
                let stage = pilot_stage(pilot.status());
                if parent.kind == ParentKind::Pilot {
                    return Ok(view(pilot.lead_company_id, 0, stage));
                }
                let milestone = pilot
                    .milestones
                    .iter()
                    .find(|m| m.id == parent.id)
                    .ok_or(not_found)?;
                // Evidence goes with a milestone while the pilot is under way and it is open.
                let stage = if pilot.status() == pilots::PilotStatus::Active
                    && milestone.completed_at_ms == 0
                {
                    Stage::FirmEditing
                } else {
                    Stage::Closed
                };
                Ok(view(pilot.lead_company_id, 0, stage))
            }
            ParentKind::OutcomeReport => {
                let request = outcomes::GetReportRequest {
                    id: parent.id.clone(),
                };
                let report = self
                    .outcomes
                    .clone()
                    .get_report(DocumentsError::request(token, request)?)
                    .await
                    .map_err(upstream)?
                    .into_inner()
                    .report
                    .ok_or(not_found)?;
                let stage = report_stage(report.status());
                Ok(view(report.company_id, report.version, stage))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each owner's states land in the stage their documents follow.
    #[test]
    fn every_state_has_its_stage() {
        use onboarding::CompanyStatus as C;
        assert_eq!(company_stage(C::Draft), Stage::FirmEditing);
        assert_eq!(company_stage(C::ChangesRequested), Stage::FirmEditing);
        assert_eq!(company_stage(C::Submitted), Stage::UnderReview);
        assert_eq!(company_stage(C::UnderReview), Stage::UnderReview);
        for closed in [C::Approved, C::Rejected, C::Suspended] {
            assert_eq!(company_stage(closed), Stage::Closed);
        }
        use vouchers::ApplicationStatus as A;
        assert_eq!(application_stage(A::Submitted), Stage::FirmEditing);
        for closed in [A::Approved, A::Rejected, A::Withdrawn] {
            assert_eq!(application_stage(closed), Stage::Closed);
        }
        use pilots::PilotStatus as P;
        assert_eq!(pilot_stage(P::Draft), Stage::FirmEditing);
        assert_eq!(pilot_stage(P::Submitted), Stage::UnderReview);
        assert_eq!(pilot_stage(P::Approved), Stage::Running);
        assert_eq!(pilot_stage(P::Active), Stage::Running);
        for closed in [P::Rejected, P::Completed, P::Suspended, P::Cancelled] {
            assert_eq!(pilot_stage(closed), Stage::Closed);
        }
        use outcomes::ReportStatus as R;
        assert_eq!(report_stage(R::Draft), Stage::FirmEditing);
        assert_eq!(report_stage(R::Returned), Stage::FirmEditing);
        assert_eq!(report_stage(R::Submitted), Stage::UnderReview);
        assert_eq!(report_stage(R::Verified), Stage::Closed);
    }
}
