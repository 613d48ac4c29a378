//! Firm members and their companies, made through onboarding's real use cases:
//! `stack.firm(7).sector(Sector::Energy).approved().await`.

use axv_auth::Role;
use axv_onboarding::domain::{CompanyAction, CompanyInput, GwangjuPresence, Sector};

use crate::{
    Stack,
    fixtures::{PASSWORD, business_number, caller},
};

/// A firm member (signed up as `firm<n>@test.kr`) and one company of theirs.
#[derive(Debug, Clone)]
pub struct Firm {
    /// The member's access token.
    pub token: String,
    pub user_id: String,
    pub company_id: String,
}

/// What [`Stack::firm`] makes; ends in the company's state.
pub struct FirmBuilder<'a> {
    stack: &'a Stack,
    n: u32,
    sector: Sector,
    name_ko: String,
}

impl Stack {
    /// Firm number `n` (its e-mail and business number follow from it), in AI by default.
    pub fn firm(&self, n: u32) -> FirmBuilder<'_> {
        FirmBuilder {
            stack: self,
            n,
            sector: Sector::ArtificialIntelligence,
            name_ko: format!("시험기업{n}"),
        }
    }
}

impl FirmBuilder<'_> {
    pub fn sector(mut self, sector: Sector) -> Self {
        self.sector = sector;
        self
    }

    pub fn named(mut self, name_ko: &str) -> Self {
        self.name_ko = name_ko.to_owned();
        self
    }

    /// The company as created: DRAFT.
    pub async fn draft(self) -> Firm {
        self.moved(&[]).await
    }

    /// Submitted for review.
    pub async fn submitted(self) -> Firm {
        self.moved(&[CompanyAction::Submit]).await
    }

    /// Submitted, reviewed and approved by a programme manager.
    pub async fn approved(self) -> Firm {
        self.moved(&[
            CompanyAction::Submit,
            CompanyAction::StartReview,
            CompanyAction::Approve,
        ])
        .await
    }

    async fn moved(self, actions: &[CompanyAction]) -> Firm {
        let onboarding = self.stack.onboarding();
        let session = onboarding
            .sign_up(&format!("firm{}@test.kr", self.n), PASSWORD, "시험")
            .await
            .unwrap();
        let member = caller(&session.user.id, Role::FirmMember);
        let manager = caller("manager", Role::ProgramManager);
        let company = onboarding
            .create_company(
                Some(&member),
                CompanyInput {
                    business_number: business_number(self.n),
                    name_ko: self.name_ko,
                    name_en: None,
                    sector: Some(self.sector),
                    presence: Some(GwangjuPresence::Headquarters),
                    employees: Some(10),
                    founded_on: None,
                    contact_email: "ceo@test.kr".into(),
                },
            )
            .await
            .unwrap();
        let id = company.company.id;
        for action in actions {
            let who = if *action == CompanyAction::Submit {
                &member
            } else {
                &manager
            };
            onboarding
                .transition(Some(who), &id, *action, None)
                .await
                .unwrap();
        }
        Firm {
            token: session.access.token,
            user_id: session.user.id,
            company_id: id,
        }
    }
}
