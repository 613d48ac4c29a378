//! The audit trail end to end: every mutation of the API, run once in one journey, leaves
//! exactly the entries the table below says (and a mutation missing from the table fails the
//! test), the chains verify afterwards, and each caller sees only what it may.

use std::collections::BTreeSet;

use axv_auth::Role;
use axv_e2e::{PASSWORD, TestPlatform, business_number, company_input, error_code};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::{
    data,
    outcomes::{active_pilot, quarter_of},
    password_reset::reset_token,
};

/// Every mutation with the audit actions one successful call records, newest last. An empty
/// list is a decision, with its reason beside it: sessions and sign-ins, usage lines (the
/// ledger holds them per job), review claims (short leases, not changes to a record) and a
/// person's own inbox and preferences leave none.
const MUTATIONS: &[(&str, &[&str])] = &[
    ("signUp", &["account.created"]),
    ("login", &[]),
    ("refreshToken", &[]),
    ("logout", &[]),
    ("updateMe", &["account.updated"]),
    ("changePassword", &["account.password_changed"]),
    ("requestPasswordReset", &[]),
    ("resetPassword", &["account.password_reset"]),
    ("createCompany", &["company.created"]),
    ("updateCompany", &["company.updated"]),
    ("submitCompany", &["company.submitted"]),
    ("startCompanyReview", &["company.review_started"]),
    ("requestCompanyChanges", &["company.changes_requested"]),
    ("approveCompany", &["company.approved"]),
    ("rejectCompany", &["company.rejected"]),
    ("suspendCompany", &["company.suspended"]),
    ("reinstateCompany", &["company.reinstated"]),
    ("addCompanyMember", &["company.member_added"]),
    ("createResourcePool", &["pool.created"]),
    ("createVoucherProgram", &["program.created"]),
    ("applyForVoucher", &["application.submitted"]),
    (
        "approveVoucherApplication",
        &["application.approved", "voucher.issued"],
    ),
    ("rejectVoucherApplication", &["application.rejected"]),
    ("withdrawVoucherApplication", &["application.withdrawn"]),
    ("recordUsage", &[]),
    ("ingestUsage", &[]),
    ("revokeVoucher", &["voucher.revoked"]),
    ("registerPilot", &["pilot.registered"]),
    ("updatePilot", &["pilot.updated"]),
    ("addPilotParticipant", &["pilot.participant_invited"]),
    ("acceptPilotInvitation", &["pilot.invitation_accepted"]),
    ("declinePilotInvitation", &["pilot.invitation_declined"]),
    ("addMilestone", &["pilot.milestone_added"]),
    ("submitPilot", &["pilot.submitted"]),
    ("approvePilot", &["pilot.approved"]),
    ("rejectPilot", &["pilot.rejected"]),
    ("startPilot", &["pilot.started"]),
    ("completeMilestone", &["pilot.milestone_completed"]),
    ("suspendPilot", &["pilot.suspended"]),
    ("resumePilot", &["pilot.resumed"]),
    ("completePilot", &["pilot.completed"]),
    ("cancelPilot", &["pilot.cancelled"]),
    ("createOutcomeReport", &["report.created"]),
    ("updateOutcomeReport", &["report.updated"]),
    ("submitOutcomeReport", &["report.submitted"]),
    ("returnOutcomeReport", &["report.returned"]),
    ("verifyOutcomeReport", &["report.verified"]),
    ("amendOutcomeReport", &["report.amended"]),
    ("publishRelease", &["stats.release_published"]),
    ("registerApiClient", &["api_client.registered"]),
    ("revokeApiClient", &["api_client.revoked"]),
    ("createStaffAccount", &["account.created"]),
    ("changeStaffRole", &["account.staff_changed"]),
    ("deactivateStaffAccount", &["account.staff_changed"]),
    ("reactivateStaffAccount", &["account.staff_changed"]),
    ("reissueTemporaryPassword", &["account.staff_changed"]),
    ("pickUpForReview", &[]),
    ("releaseReview", &[]),
    ("markNotificationsRead", &[]),
    ("setNotificationPreferences", &[]),
    ("unsubscribe", &[]),
    ("uploadDocument", &["document.uploaded"]),
    ("deleteDocument", &["document.deleted"]),
];

fn expected(mutation: &str) -> Vec<&'static str> {
    let (_, actions) = MUTATIONS
        .iter()
        .find(|(name, _)| *name == mutation)
        .unwrap_or_else(|| panic!("{mutation} is not in the audit table"));
    actions.to_vec()
}

const LOG: &str = "query($f: AuditFilter, $first: Int, $after: String) { auditLog(filter: $f, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id source seq action actorKind actorId actor { id name role email } objectKind objectId companyId company { id nameKo } summary note traceId hash } } } }";

/// Runs mutations and checks the entries each one added.
struct Journey<'a> {
    p: &'a TestPlatform,
    admin: String,
    exercised: BTreeSet<&'static str>,
}

impl<'a> Journey<'a> {
    async fn total(&self) -> i64 {
        let log = self
            .p
            .graphql(Some(&self.admin), LOG, json!({ "first": 1 }))
            .await;
        data(&log, "auditLog")["totalCount"].as_i64().unwrap()
    }

    /// The `count` newest entries' actions, oldest first.
    async fn newest(&self, count: i64) -> Vec<Value> {
        if count == 0 {
            return Vec::new();
        }
        let log = self
            .p
            .graphql(Some(&self.admin), LOG, json!({ "first": count }))
            .await;
        let mut nodes: Vec<Value> = data(&log, "auditLog")["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"].clone())
            .collect();
        nodes.reverse();
        nodes
    }

    /// Runs `mutation` (named `name`) as `token`, which must succeed, and checks that it added
    /// exactly the table's entries; returns the answer's `data.<name>`.
    async fn run(
        &mut self,
        name: &'static str,
        token: Option<&str>,
        query: &str,
        vars: Value,
    ) -> Value {
        let before = self.total().await;
        let answer = self.p.graphql(token, query, vars).await;
        let field = data(&answer, name).clone();
        self.check(name, before).await;
        field
    }

    async fn check(&mut self, name: &'static str, before: i64) {
        let added = self.total().await - before;
        let entries = self.newest(added).await;
        let actions: Vec<&str> = entries
            .iter()
            .map(|entry| entry["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, expected(name), "{name} left {entries:#?}");
        self.exercised.insert(name);
    }

    /// A mutation that takes only an id (and a note, when given).
    async fn act(
        &mut self,
        name: &'static str,
        token: &str,
        id: &str,
        note: Option<&str>,
    ) -> Value {
        let query = match note {
            Some(_) => format!(
                "mutation($id: ID!, $note: String!) {{ {name}(id: $id, note: $note) {{ id }} }}"
            ),
            None => format!("mutation($id: ID!) {{ {name}(id: $id) {{ id }} }}"),
        };
        self.run(name, Some(token), &query, json!({ "id": id, "note": note }))
            .await
    }

    async fn company(&mut self, firm: &str, seed: u32, name: &str) -> String {
        let created = self
            .run(
                "createCompany",
                Some(firm),
                "mutation($input: CompanyInput!) { createCompany(input: $input) { id } }",
                json!({ "input": company_input(&business_number(seed), name) }),
            )
            .await;
        created["id"].as_str().unwrap().to_owned()
    }
}

fn id(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

async fn sign_up(j: &mut Journey<'_>, email: &str) -> String {
    let session = j
        .run(
            "signUp",
            None,
            "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }",
            json!({ "input": { "email": email, "password": PASSWORD, "name": "감사대상" } }),
        )
        .await;
    session["accessToken"].as_str().unwrap().to_owned()
}

fn pilot_input(lead: &str, days_ago: i64) -> Value {
    let today = Utc::now().date_naive();
    json!({
        "title": "광주 자율주행 감사 실증",
        "domain": "AUTONOMOUS_DRIVING",
        "leadCompanyId": lead,
        "site": "광주 첨단3지구",
        "startsOn": (today - Duration::days(days_ago)).to_string(),
        "endsOn": (today + Duration::days(365)).to_string(),
        "budgetNational": 100_000_000_i64,
        "budgetCity": 10_000_000_i64,
        "budgetPrivate": 0,
        "regulatorySandbox": false,
    })
}

const REGISTER_PILOT: &str =
    "mutation($input: PilotInput!) { registerPilot(input: $input) { id } }";
const PARTICIPANT: &str = "mutation($p: ID!, $c: ID!, $r: String!) { addPilotParticipant(pilotId: $p, companyId: $c, role: $r) { id } }";

#[tokio::test]
async fn every_mutation_is_in_the_audit_table() {
    let p = TestPlatform::start().await;
    let schema = p
        .graphql(
            None,
            "{ __schema { mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let served: BTreeSet<&str> = schema["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap())
        .collect();
    let listed: BTreeSet<&str> = MUTATIONS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        served.difference(&listed).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "a new mutation needs its audit entries (or a reason for none) in MUTATIONS"
    );
    assert_eq!(
        listed.difference(&served).collect::<Vec<_>>(),
        Vec::<&&str>::new()
    );
    p.stop().await;
}

#[tokio::test]
async fn every_mutation_leaves_exactly_its_audit_entries() {
    let p = TestPlatform::start().await;
    let manager = p.token(Role::ProgramManager);
    let operator = p.token(Role::Operator);
    let admin = p.token(Role::Admin);
    let mut j = Journey {
        p: &p,
        admin: admin.clone(),
        exercised: BTreeSet::new(),
    };

    // Accounts and sessions.
    let firm = sign_up(&mut j, "lead@audit.kr").await;
    sign_up(&mut j, "partner@audit.kr").await;
    j.run(
        "updateMe",
        Some(&firm),
        "mutation($input: UpdateMeInput!) { updateMe(input: $input) { id } }",
        json!({ "input": { "name": "김감사", "language": "ko" } }),
    )
    .await;
    let changed = j
        .run(
            "changePassword",
            Some(&firm),
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }",
            json!({ "c": PASSWORD, "n": "a new audit passphrase" }),
        )
        .await;
    let firm = changed["accessToken"].as_str().unwrap().to_owned();
    let session = j
        .run(
            "login",
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }",
            json!({ "e": "lead@audit.kr", "p": "a new audit passphrase" }),
        )
        .await;
    let refreshed = j
        .run(
            "refreshToken",
            None,
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": session["refreshToken"] }),
        )
        .await;
    j.run(
        "logout",
        refreshed["accessToken"].as_str(),
        "mutation { logout }",
        json!({}),
    )
    .await;
    j.run(
        "requestPasswordReset",
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": "partner@audit.kr" }),
    )
    .await;
    let mail = p.mail_text("partner@audit.kr", "/password/reset/").await;
    j.run(
        "resetPassword",
        None,
        "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) }",
        json!({ "t": reset_token(&mail), "p": "the partner's new passphrase" }),
    )
    .await;
    let partner_session = p
        .graphql(
            None,
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
            json!({ "e": "partner@audit.kr", "p": "the partner's new passphrase" }),
        )
        .await;
    let partner = data(&partner_session, "login")["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // Companies, with a document attached and removed while the firm prepares one.
    let lead = j.company(&firm, 9101, "광주감사기업").await;
    let before = j.total().await;
    let (status, uploaded) = p
        .upload(
            Some(&firm),
            "mutation($kind: DocumentParentKind!, $id: ID!, $file: Upload!) { uploadDocument(parentKind: $kind, parentId: $id, file: $file) { id } }",
            json!({ "kind": "COMPANY", "id": lead, "file": null }),
            "사업자등록증.pdf",
            axv_testkit::files::pdf(2048),
        )
        .await;
    assert_eq!(status, 200, "{uploaded}");
    let document = id(data(&uploaded, "uploadDocument"));
    j.check("uploadDocument", before).await;
    j.run(
        "deleteDocument",
        Some(&firm),
        "mutation($id: ID!) { deleteDocument(id: $id) }",
        json!({ "id": document }),
    )
    .await;
    j.run(
        "updateCompany",
        Some(&firm),
        "mutation($id: ID!, $input: CompanyInput!) { updateCompany(id: $id, input: $input) { id } }",
        json!({ "id": lead, "input": with(company_input(&business_number(9101), "광주감사기업"), "employees", json!(40)) }),
    )
    .await;
    j.act("submitCompany", &firm, &lead, None).await;
    j.act("startCompanyReview", &manager, &lead, None).await;
    j.act(
        "requestCompanyChanges",
        &manager,
        &lead,
        Some("사업장 주소를 확인해 주세요"),
    )
    .await;
    p.move_company(&firm, "submitCompany", &lead).await;
    p.move_company(&manager, "startCompanyReview", &lead).await;
    j.run(
        "pickUpForReview",
        Some(&manager),
        "mutation($id: ID!) { pickUpForReview(subjectId: $id) { byName } }",
        json!({ "id": lead }),
    )
    .await;
    j.run(
        "releaseReview",
        Some(&manager),
        "mutation($id: ID!) { releaseReview(subjectId: $id) }",
        json!({ "id": lead }),
    )
    .await;
    j.act("approveCompany", &manager, &lead, None).await;
    j.act("suspendCompany", &manager, &lead, Some("서류 재확인"))
        .await;
    j.act("reinstateCompany", &manager, &lead, None).await;
    let partner_company = p.approved_company(&partner, 9102, "광주협력기업").await;
    let refused = p.submitted_company(&partner, 9103, "광주반려기업").await;
    p.move_company(&manager, "startCompanyReview", &refused)
        .await;
    j.act("rejectCompany", &manager, &refused, Some("요건 미충족"))
        .await;
    j.run(
        "addCompanyMember",
        Some(&firm),
        "mutation($c: ID!, $e: String!) { addCompanyMember(companyId: $c, email: $e) { id } }",
        json!({ "c": lead, "e": "partner@audit.kr" }),
    )
    .await;

    // Vouchers.
    let today = axv_platform::calendar::today_kst();
    let pool = j
        .run(
            "createResourcePool",
            Some(&admin),
            "mutation($input: ResourcePoolInput!) { createResourcePool(input: $input) { id } }",
            json!({ "input": {
                "name": "감사 H100", "kind": "GPU_H100", "capacity": 1_000_000,
                "funding": "NATIONAL", "validFrom": today.to_string(),
                "validUntil": (today + Duration::days(365)).to_string(),
            } }),
        )
        .await;
    let program = j
        .run(
            "createVoucherProgram",
            Some(&admin),
            "mutation($input: VoucherProgramInput!) { createVoucherProgram(input: $input) { id } }",
            json!({ "input": {
                "poolId": id(&pool), "name": "감사 바우처",
                "opensOn": today.to_string(),
                "closesOn": (today + Duration::days(30)).to_string(),
                "maxPerCompany": 500_000,
            } }),
        )
        .await;
    let mut applications = Vec::new();
    for _ in 0..3 {
        let applied = j
            .run(
                "applyForVoucher",
                Some(&firm),
                "mutation($input: VoucherApplicationInput!) { applyForVoucher(input: $input) { id } }",
                json!({ "input": {
                    "programId": id(&program), "companyId": lead,
                    "requestedAmount": 36_000, "justification": "감사 실증 학습",
                } }),
            )
            .await;
        applications.push(id(&applied));
    }
    let voucher = j
        .run(
            "approveVoucherApplication",
            Some(&manager),
            "mutation($id: ID!) { approveVoucherApplication(id: $id) { id code } }",
            json!({ "id": applications[0] }),
        )
        .await;
    j.act(
        "rejectVoucherApplication",
        &manager,
        &applications[1],
        Some("예산 소진"),
    )
    .await;
    j.act("withdrawVoucherApplication", &firm, &applications[2], None)
        .await;
    let code = voucher["code"].as_str().unwrap().to_owned();
    let ended = Utc::now();
    j.run(
        "recordUsage",
        Some(&operator),
        "mutation($input: UsageInput!) { recordUsage(input: $input) { id } }",
        json!({ "input": {
            "cluster": "gwangju-h100", "jobId": "7001", "voucherCode": code, "amount": 3_600,
            "startedAt": (ended - Duration::seconds(3_600)).to_rfc3339(),
            "endedAt": ended.to_rfc3339(),
        } }),
    )
    .await;
    let sacct = format!(
        "JobID|JobIDRaw|Account|User|AllocTRES|ElapsedRaw|Start|End|State\n\
         7002|7002|{code}|kimjh|billing=16,cpu=16,gres/gpu=2,mem=128G,node=1|100|2025-03-01T09:00:00|2025-03-01T09:01:40|COMPLETED\n"
    );
    j.run(
        "ingestUsage",
        Some(&operator),
        "mutation($c: String!, $s: String!) { ingestUsage(cluster: $c, sacct: $s) { accepted } }",
        json!({ "c": "gwangju-h100", "s": sacct }),
    )
    .await;
    j.act(
        "revokeVoucher",
        &manager,
        &id(&voucher),
        Some("목적 외 사용"),
    )
    .await;

    // Pilots: one all the way through, one declined and cancelled, one rejected.
    let pilot = id(&j
        .run(
            "registerPilot",
            Some(&firm),
            REGISTER_PILOT,
            json!({ "input": pilot_input(&lead, 0) }),
        )
        .await);
    j.run(
        "updatePilot",
        Some(&firm),
        "mutation($id: ID!, $input: PilotInput!) { updatePilot(id: $id, input: $input) { id } }",
        json!({ "id": pilot, "input": with(pilot_input(&lead, 0), "site", json!("광주 첨단3지구 2구역")) }),
    )
    .await;
    j.run(
        "addPilotParticipant",
        Some(&firm),
        PARTICIPANT,
        json!({ "p": pilot, "c": partner_company, "r": "데이터 제공" }),
    )
    .await;
    j.run(
        "acceptPilotInvitation",
        Some(&partner),
        "mutation($p: ID!, $c: ID!) { acceptPilotInvitation(pilotId: $p, companyId: $c) { id } }",
        json!({ "p": pilot, "c": partner_company }),
    )
    .await;
    let milestones = j
        .run(
            "addMilestone",
            Some(&firm),
            "mutation($p: ID!, $i: MilestoneInput!) { addMilestone(pilotId: $p, input: $i) { milestones { id } } }",
            json!({ "p": pilot, "i": { "title": "장비 구축", "dueOn": (today + Duration::days(60)).to_string() } }),
        )
        .await;
    let milestone = id(&milestones["milestones"][0]);
    j.act("submitPilot", &firm, &pilot, None).await;
    j.act("approvePilot", &manager, &pilot, None).await;
    j.act("startPilot", &firm, &pilot, None).await;
    j.run(
        "completeMilestone",
        Some(&firm),
        "mutation($p: ID!, $m: ID!) { completeMilestone(pilotId: $p, milestoneId: $m, evidence: \"검수 완료\") { id } }",
        json!({ "p": pilot, "m": milestone }),
    )
    .await;
    j.act("suspendPilot", &manager, &pilot, Some("안전 점검"))
        .await;
    j.act("resumePilot", &manager, &pilot, None).await;
    j.act("completePilot", &manager, &pilot, Some("실증 종료"))
        .await;
    let second = id(&p
        .graphql(
            Some(&firm),
            REGISTER_PILOT,
            json!({ "input": pilot_input(&lead, 0) }),
        )
        .await["data"]["registerPilot"]);
    p.graphql(
        Some(&firm),
        PARTICIPANT,
        json!({ "p": second, "c": partner_company, "r": "장비 제공" }),
    )
    .await;
    j.run(
        "declinePilotInvitation",
        Some(&partner),
        "mutation($p: ID!, $c: ID!) { declinePilotInvitation(pilotId: $p, companyId: $c, note: \"일정 불가\") { id } }",
        json!({ "p": second, "c": partner_company }),
    )
    .await;
    j.act("cancelPilot", &manager, &second, Some("참여사 사정"))
        .await;
    let third = id(&p
        .graphql(
            Some(&firm),
            REGISTER_PILOT,
            json!({ "input": pilot_input(&lead, 0) }),
        )
        .await["data"]["registerPilot"]);
    p.move_company(&firm, "submitPilot", &third).await;
    j.act("rejectPilot", &manager, &third, Some("실증지 협의 미완료"))
        .await;

    // Outcome reports and a release of the public figures.
    let (reporter, _, running) = active_pilot(&p, &manager, "reports@audit.kr", 9104, today).await;
    let (start, end) = quarter_of(today - Duration::days(100));
    let figures = |revenue: i64| {
        json!({
            "pilotId": running, "periodStart": start.to_string(), "periodEnd": end.to_string(),
            "modelsDeveloped": 2, "modelsImproved": 0, "modelsCommercialized": 0,
            "revenueKrw": revenue, "patentsFiled": 0, "patentsRegistered": 0, "papers": 1,
            "newHires": 1, "investmentKrw": 0,
        })
    };
    let report = id(&j
        .run(
            "createOutcomeReport",
            Some(&reporter),
            "mutation($input: OutcomeReportInput!) { createOutcomeReport(input: $input) { id } }",
            json!({ "input": figures(10_000_000) }),
        )
        .await);
    j.run(
        "updateOutcomeReport",
        Some(&reporter),
        "mutation($id: ID!, $input: OutcomeReportInput!) { updateOutcomeReport(id: $id, input: $input) { id } }",
        json!({ "id": report, "input": figures(12_000_000) }),
    )
    .await;
    j.act("submitOutcomeReport", &reporter, &report, None).await;
    j.act("returnOutcomeReport", &manager, &report, Some("증빙 보완"))
        .await;
    p.move_company(&reporter, "submitOutcomeReport", &report)
        .await;
    j.act("verifyOutcomeReport", &manager, &report, None).await;
    j.act("amendOutcomeReport", &reporter, &report, None).await;
    j.run(
        "publishRelease",
        Some(&manager),
        "mutation($n: String!) { publishRelease(note: $n) { number } }",
        json!({ "n": "감사 확인용 공표" }),
    )
    .await;

    // API clients and staff accounts.
    let client = j
        .run(
            "registerApiClient",
            Some(&admin),
            "mutation { registerApiClient(name: \"감사 대시보드\", role: DASHBOARD) { client { id } } }",
            json!({}),
        )
        .await;
    j.run(
        "revokeApiClient",
        Some(&admin),
        "mutation($id: ID!) { revokeApiClient(clientId: $id) { id } }",
        json!({ "id": id(&client["client"]) }),
    )
    .await;
    let staff = j
        .run(
            "createStaffAccount",
            Some(&admin),
            "mutation($input: StaffAccountInput!) { createStaffAccount(input: $input) { user { id } } }",
            json!({ "input": { "email": "pm2@audit.kr", "name": "감사 담당", "role": "PROGRAM_MANAGER" } }),
        )
        .await;
    let staff = id(&staff["user"]);
    j.run(
        "changeStaffRole",
        Some(&admin),
        "mutation($id: ID!) { changeStaffRole(userId: $id, role: OPERATOR) { id } }",
        json!({ "id": staff }),
    )
    .await;
    for name in ["deactivateStaffAccount", "reactivateStaffAccount"] {
        j.run(
            name,
            Some(&admin),
            &format!("mutation($id: ID!) {{ {name}(userId: $id) {{ id }} }}"),
            json!({ "id": staff }),
        )
        .await;
    }
    j.run(
        "reissueTemporaryPassword",
        Some(&admin),
        "mutation($id: ID!) { reissueTemporaryPassword(userId: $id) { temporaryPassword } }",
        json!({ "id": staff }),
    )
    .await;

    // A person's own inbox and preferences.
    j.run(
        "markNotificationsRead",
        Some(&firm),
        "mutation { markNotificationsRead(all: true) }",
        json!({}),
    )
    .await;
    j.run(
        "setNotificationPreferences",
        Some(&firm),
        "mutation { setNotificationPreferences(preferences: [{ category: VOUCHER, delivery: DIGEST }]) { category } }",
        json!({}),
    )
    .await;
    let unsubscribe = p.unsubscribe_token("lead@audit.kr").await;
    j.run(
        "unsubscribe",
        None,
        "mutation($t: String!) { unsubscribe(token: $t) }",
        json!({ "t": unsubscribe }),
    )
    .await;

    let missed: Vec<&str> = MUTATIONS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !j.exercised.contains(name))
        .collect();
    assert!(missed.is_empty(), "the journey never ran {missed:?}");

    // Every chain it wrote verifies.
    for (service, found) in axv::verify_audit(&p.platform).await.unwrap() {
        assert_eq!(found.broken, None, "{service}");
        assert!(found.entries > 0, "{service} recorded nothing");
    }

    // What the entries say: who, in which role, with names; the staff's notes.
    let log = p
        .graphql(
            Some(&admin),
            LOG,
            json!({ "f": { "objectId": lead, "action": "company." }, "first": 50 }),
        )
        .await;
    let entries = data(&log, "auditLog")["edges"].as_array().unwrap().clone();
    let changes = entries
        .iter()
        .find(|e| e["node"]["action"] == "company.changes_requested")
        .unwrap();
    assert_eq!(
        changes["node"]["summary"],
        "UNDER_REVIEW → CHANGES_REQUESTED"
    );
    assert_eq!(changes["node"]["note"], "사업장 주소를 확인해 주세요");
    assert_eq!(changes["node"]["actor"]["role"], "PROGRAM_MANAGER");
    let created = entries
        .iter()
        .find(|e| e["node"]["action"] == "company.created")
        .unwrap();
    assert_eq!(created["node"]["actor"]["name"], "김감사", "{created}");
    assert_eq!(created["node"]["company"]["nameKo"], "광주감사기업");
    assert_eq!(created["node"]["hash"].as_str().unwrap().len(), 64);
}

/// `input` with `field` set to `value`: edits send the whole input again.
fn with(mut input: Value, field: &str, value: Value) -> Value {
    input[field] = value;
    input
}

#[tokio::test]
async fn each_caller_sees_only_what_it_may() {
    let p = TestPlatform::start().await;
    let admin = p.token(Role::Admin);
    let firm_a = p.sign_up("a@audit-view.kr").await;
    let firm_b = p.sign_up("b@audit-view.kr").await;
    let company_a = p.approved_company(&firm_a, 9201, "에이감사").await;
    let company_b = p.approved_company(&firm_b, 9202, "비감사").await;
    // Tokens carry the companies a member acts for: sign in again after creating them.
    let relog = |email: &'static str| {
        let p = &p;
        async move {
            let session = p
                .graphql(
                    None,
                    "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                    json!({ "e": email, "p": PASSWORD }),
                )
                .await;
            data(&session, "login")["accessToken"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let firm_a = relog("a@audit-view.kr").await;

    let own = p.graphql(Some(&firm_a), LOG, json!({ "first": 100 })).await;
    let own = data(&own, "auditLog");
    let companies: BTreeSet<&str> = own["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["companyId"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(companies, BTreeSet::from([company_a.as_str()]), "{own}");
    assert!(
        own["totalCount"].as_i64().unwrap() >= 4,
        "created, submitted, review, approved"
    );
    let asked_for_b = p
        .graphql(
            Some(&firm_a),
            LOG,
            json!({ "f": { "companyId": company_b }, "first": 10 }),
        )
        .await;
    assert_eq!(
        data(&asked_for_b, "auditLog")["totalCount"],
        0,
        "{asked_for_b}"
    );
    let _ = firm_b;

    let staff = p.graphql(Some(&admin), LOG, json!({ "first": 100 })).await;
    assert!(data(&staff, "auditLog")["totalCount"].as_i64().unwrap() >= 10);

    let dashboard = p
        .graphql(Some(&p.token(Role::Dashboard)), LOG, json!({ "first": 5 }))
        .await;
    assert_eq!(error_code(&dashboard), Some("FORBIDDEN"), "{dashboard}");
    let operator = p
        .graphql(Some(&p.token(Role::Operator)), LOG, json!({ "first": 5 }))
        .await;
    assert_eq!(error_code(&operator), Some("FORBIDDEN"), "{operator}");
    let anonymous = p.graphql(None, LOG, json!({ "first": 5 })).await;
    assert_eq!(
        error_code(&anonymous),
        Some("UNAUTHENTICATED"),
        "{anonymous}"
    );
    let bad_cursor = p
        .graphql(Some(&admin), LOG, json!({ "first": 5, "after": "bm9wZQ" }))
        .await;
    assert_eq!(
        error_code(&bad_cursor),
        Some("BAD_USER_INPUT"),
        "{bad_cursor}"
    );

    // Paging through everything returns each entry once.
    let mut seen = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = p
            .graphql(Some(&admin), LOG, json!({ "first": 3, "after": after }))
            .await;
        let page = data(&page, "auditLog").clone();
        for edge in page["edges"].as_array().unwrap() {
            assert!(
                seen.insert(edge["node"]["id"].as_str().unwrap().to_owned()),
                "{edge}"
            );
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let total = data(&staff, "auditLog")["totalCount"].as_i64().unwrap();
    assert_eq!(i64::try_from(seen.len()).unwrap(), total);
    p.stop().await;
}
