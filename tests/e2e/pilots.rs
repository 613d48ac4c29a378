//! The pilot journey through GraphQL only: a firm registers an autonomous-driving pilot with a
//! partner firm, a manager approves it, the firm runs it through its milestones and a manager
//! completes it; with who sees what (partner, unrelated firm, anonymous registry) and every
//! refusal a caller can meet on the way.

use axv_auth::Role;
use axv_e2e::{TestPlatform, business_number, error_code};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::{act, create_company, data, issue_voucher};

const SITE: &str = "광주 첨단3지구 자율주행 실증지구";
const TITLE: &str = "첨단3지구 자율주행 셔틀 실증";

const REGISTER: &str = "mutation($input: PilotInput!) { registerPilot(input: $input) { id title domain status site startsOn endsOn budgetNational budgetCity budgetPrivate regulatorySandbox leadCompany { id nameKo } participants { role company { id } } } }";
const UPDATE: &str = "mutation($id: ID!, $input: PilotInput!) { updatePilot(id: $id, input: $input) { id status site budgetCity } }";
const ADD_PARTICIPANT: &str = "mutation($pilot: ID!, $company: ID!, $role: String!) { addPilotParticipant(pilotId: $pilot, companyId: $company, role: $role) { id participants { role state company { id nameKo } } } }";
const ACCEPT_INVITATION: &str = "mutation($pilot: ID!, $company: ID!) { acceptPilotInvitation(pilotId: $pilot, companyId: $company) { id participants { role state company { id } } } }";
const ADD_MILESTONE: &str = "mutation($pilot: ID!, $input: MilestoneInput!) { addMilestone(pilotId: $pilot, input: $input) { id milestones { id title dueOn completedAt evidence overdue } } }";
const COMPLETE_MILESTONE: &str = "mutation($pilot: ID!, $milestone: ID!, $evidence: String) { completeMilestone(pilotId: $pilot, milestoneId: $milestone, evidence: $evidence) { id milestones { id completedAt evidence } } }";
const COMPLETE: &str =
    "mutation($id: ID!, $note: String) { completePilot(id: $id, note: $note) { id status } }";
const PILOT: &str = "query($id: ID!) { pilot(id: $id) { id title domain status site startsOn endsOn budgetNational budgetCity budgetPrivate regulatorySandbox leadCompany { id nameKo sector } participants { role company { id nameKo sector presence } } milestones { title completedAt evidence overdue } vouchers { id } history { from to by note } } }";
const PUBLIC_PILOTS: &str = "{ pilots { totalCount edges { node { id title domain status site startsOn endsOn leadCompany { id nameKo sector } participants { role } milestones { id } history { to } vouchers { id } } } } }";

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

fn pilot_input(lead: &str, starts_on: &str, ends_on: &str) -> Value {
    json!({ "input": {
        "title": TITLE,
        "titleEn": "Cheomdan-3 autonomous shuttle pilot",
        "domain": "AUTONOMOUS_DRIVING",
        "leadCompanyId": lead,
        "site": SITE,
        "startsOn": starts_on,
        "endsOn": ends_on,
        "budgetNational": 1_200_000_000_i64,
        "budgetCity": 300_000_000_i64,
        "budgetPrivate": 500_000_000_i64,
        "regulatorySandbox": true,
        "sandboxReference": "광주 자율주행 규제자유특구",
    } })
}

async fn pilot_journey(p: &TestPlatform) {
    let manager = p.token(Role::ProgramManager);
    let today = Utc::now().date_naive();
    let starts_on = today.to_string();
    let ends_on = (today + Duration::days(365)).to_string();

    // Firm A leads, firm B is the partner, firm C has nothing to do with the pilot.
    let firm_a = p.sign_up("lead@pilot.kr").await;
    let firm_b = p.sign_up("partner@pilot.kr").await;
    let firm_c = p.sign_up("outsider@pilot.kr").await;
    let company_a = p.approved_company(&firm_a, 3101, "광주자율주행").await;
    let company_b = p.approved_company(&firm_b, 3102, "빛고을센서").await;
    let draft_a = create_company(p, &firm_a, &business_number(3103), "초안모빌리티").await;

    // Refusals before anything exists.
    let anonymous = p
        .graphql(
            None,
            REGISTER,
            pilot_input(&company_a, &starts_on, &ends_on),
        )
        .await;
    assert_eq!(
        error_code(&anonymous),
        Some("UNAUTHENTICATED"),
        "{anonymous}"
    );
    let backwards = p
        .graphql(
            Some(&firm_a),
            REGISTER,
            pilot_input(&company_a, &ends_on, &starts_on),
        )
        .await;
    assert_eq!(
        error_code(&backwards),
        Some("BAD_USER_INPUT"),
        "{backwards}"
    );
    assert!(
        str_of(&backwards["errors"][0]["message"], "message").contains("endsOn"),
        "{backwards}"
    );
    let not_approved = p
        .graphql(
            Some(&firm_a),
            REGISTER,
            pilot_input(&draft_a, &starts_on, &ends_on),
        )
        .await;
    assert_eq!(
        error_code(&not_approved),
        Some("FAILED_PRECONDITION"),
        "{not_approved}"
    );

    // A registers the pilot: a DRAFT with everything it was given.
    let registered = p
        .graphql(
            Some(&firm_a),
            REGISTER,
            pilot_input(&company_a, &starts_on, &ends_on),
        )
        .await;
    let pilot = data(&registered, "registerPilot").clone();
    assert_eq!(pilot["status"], "DRAFT");
    assert_eq!(pilot["domain"], "AUTONOMOUS_DRIVING");
    assert_eq!(pilot["site"], SITE);
    assert_eq!(pilot["startsOn"], starts_on.as_str());
    assert_eq!(pilot["endsOn"], ends_on.as_str());
    assert_eq!(pilot["budgetNational"], 1_200_000_000_i64);
    assert_eq!(pilot["budgetCity"], 300_000_000_i64);
    assert_eq!(pilot["budgetPrivate"], 500_000_000_i64);
    assert_eq!(pilot["regulatorySandbox"], true);
    assert_eq!(pilot["leadCompany"]["id"], company_a.as_str());
    assert_eq!(pilot["leadCompany"]["nameKo"], "광주자율주행");
    let id = str_of(&pilot["id"], "id").to_owned();

    // While it is a draft, A edits it; nobody else may, and the lead company stays.
    let mut edited = pilot_input(&company_a, &starts_on, &ends_on);
    edited["input"]["budgetCity"] = json!(350_000_000_i64);
    let mut update = edited.clone();
    update["id"] = json!(id);
    let updated = p.graphql(Some(&firm_a), UPDATE, update.clone()).await;
    assert_eq!(data(&updated, "updatePilot")["site"], SITE);
    assert_eq!(data(&updated, "updatePilot")["budgetCity"], 350_000_000_i64);
    assert_eq!(data(&updated, "updatePilot")["status"], "DRAFT");
    let outsider = p.graphql(Some(&firm_c), UPDATE, update.clone()).await;
    assert_eq!(error_code(&outsider), Some("NOT_FOUND"), "{outsider}");
    let mut other_lead = update.clone();
    other_lead["input"]["leadCompanyId"] = json!(company_b);
    let moved = p.graphql(Some(&firm_a), UPDATE, other_lead).await;
    assert_eq!(error_code(&moved), Some("BAD_USER_INPUT"), "{moved}");

    // A brings B in as its partner.
    let joined = p
        .graphql(
            Some(&firm_a),
            ADD_PARTICIPANT,
            json!({ "pilot": id, "company": company_b, "role": "partner" }),
        )
        .await;
    let participants = data(&joined, "addPilotParticipant")["participants"]
        .as_array()
        .unwrap()
        .clone();
    assert!(
        participants
            .iter()
            .any(|r| r["role"] == "partner" && r["company"]["id"] == company_b.as_str()),
        "{joined}"
    );
    assert!(
        participants
            .iter()
            .any(|r| r["role"] == "lead" && r["company"]["id"] == company_a.as_str()),
        "{joined}"
    );

    // B is invited, not enrolled: A cannot accept for it, nor can a stranger; B's member can.
    assert!(
        participants
            .iter()
            .any(|r| r["state"] == "INVITED" && r["company"]["id"] == company_b.as_str()),
        "{joined}"
    );
    let invitation = json!({ "pilot": id, "company": company_b });
    let program = p.open_programme().await;
    let premature = p
        .graphql(
            Some(&firm_b),
            "mutation($input: VoucherApplicationInput!) { applyForVoucher(input: $input) { id } }",
            json!({ "input": {
                "programId": program,
                "companyId": company_b,
                "requestedAmount": 3_600,
                "justification": "초대만 받은 실증",
                "pilotId": id,
            } }),
        )
        .await;
    assert_eq!(
        error_code(&premature),
        Some("FAILED_PRECONDITION"),
        "an invited company does not take part yet: {premature}"
    );
    for (who, caller) in [("the lead", &firm_a), ("a stranger", &firm_c)] {
        let refused = p
            .graphql(Some(caller), ACCEPT_INVITATION, invitation.clone())
            .await;
        assert_eq!(error_code(&refused), Some("NOT_FOUND"), "{who}: {refused}");
    }
    let accepted = p
        .graphql(Some(&firm_b), ACCEPT_INVITATION, invitation.clone())
        .await;
    assert!(
        data(&accepted, "acceptPilotInvitation")["participants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["state"] == "ACCEPTED" && r["company"]["id"] == company_b.as_str()),
        "{accepted}"
    );
    let twice = p
        .graphql(Some(&firm_b), ACCEPT_INVITATION, invitation)
        .await;
    assert_eq!(error_code(&twice), Some("FAILED_PRECONDITION"), "{twice}");

    // Submitted by A, approved by a manager (not by a firm), started by A.
    let submitted = act(p, &firm_a, "submitPilot", &id, None).await;
    assert_eq!(data(&submitted, "submitPilot")["status"], "SUBMITTED");
    let late_edit = p.graphql(Some(&firm_a), UPDATE, update).await;
    assert_eq!(
        error_code(&late_edit),
        Some("FAILED_PRECONDITION"),
        "{late_edit}"
    );
    assert_eq!(
        late_edit["errors"][0]["extensions"]["reason"], "NOT_EDITABLE",
        "{late_edit}"
    );
    let self_approved = act(p, &firm_a, "approvePilot", &id, None).await;
    assert_eq!(
        error_code(&self_approved),
        Some("FORBIDDEN"),
        "{self_approved}"
    );
    let approved = act(p, &manager, "approvePilot", &id, None).await;
    assert_eq!(data(&approved, "approvePilot")["status"], "APPROVED");
    let started = act(p, &firm_a, "startPilot", &id, None).await;
    assert_eq!(data(&started, "startPilot")["status"], "ACTIVE");

    // A's voucher for the pilot shows on it, in a list of pilots too (one call for them all).
    let voucher = issue_voucher(p, &firm_a, &manager, &company_a, Some(&id)).await;
    let b_pilot = p
        .graphql(
            Some(&firm_b),
            REGISTER,
            pilot_input(&company_b, &starts_on, &ends_on),
        )
        .await;
    let b_pilot = str_of(&data(&b_pilot, "registerPilot")["id"], "id").to_owned();
    let all = p
        .graphql(
            Some(&manager),
            "{ pilots { totalCount edges { node { id vouchers { id code pilot { id title } } } } } }",
            json!({}),
        )
        .await;
    let edges = data(&all, "pilots")["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2, "{all}");
    for edge in edges {
        let node = &edge["node"];
        if node["id"] == id.as_str() {
            assert_eq!(node["vouchers"][0]["id"], voucher.as_str(), "{all}");
            assert_eq!(node["vouchers"][0]["pilot"]["title"], TITLE);
            assert_eq!(node["vouchers"].as_array().unwrap().len(), 1);
        } else {
            assert_eq!(node["id"], b_pilot.as_str());
            assert_eq!(node["vouchers"], json!([]), "{all}");
        }
    }
    let own = p.graphql(Some(&firm_a), PILOT, json!({ "id": id })).await;
    assert_eq!(data(&own, "pilot")["vouchers"][0]["id"], voucher.as_str());

    // Two milestones; the first done with evidence.
    let mut milestones = Value::Null;
    for (title, days) in [("셔틀 3대 시험 운행", 90), ("야간 운행 안전성 평가", 180)]
    {
        let added = p
            .graphql(
                Some(&firm_a),
                ADD_MILESTONE,
                json!({ "pilot": id, "input": { "title": title, "dueOn": (today + Duration::days(days)).to_string() } }),
            )
            .await;
        milestones = data(&added, "addMilestone")["milestones"].clone();
    }
    let milestones = milestones.as_array().unwrap();
    assert_eq!(milestones.len(), 2, "{milestones:?}");
    assert_eq!(milestones[0]["title"], "셔틀 3대 시험 운행");
    assert_eq!(
        milestones[0]["dueOn"],
        (today + Duration::days(90)).to_string()
    );
    for m in milestones {
        assert_eq!(m["completedAt"], Value::Null);
        assert_eq!(m["evidence"], Value::Null);
        assert_eq!(m["overdue"], false);
    }
    let ids: Vec<String> = milestones
        .iter()
        .map(|m| str_of(&m["id"], "milestone id").to_owned())
        .collect();
    let done = p
        .graphql(
            Some(&firm_a),
            COMPLETE_MILESTONE,
            json!({ "pilot": id, "milestone": ids[0], "evidence": "https://axvalley.kr/reports/shuttle-trial.pdf" }),
        )
        .await;
    let first = &data(&done, "completeMilestone")["milestones"][0];
    assert!(first["completedAt"].is_string(), "{done}");
    assert_eq!(
        first["evidence"],
        "https://axvalley.kr/reports/shuttle-trial.pdf"
    );

    // Completing with open milestones needs the manager's note.
    let early = p
        .graphql(Some(&manager), COMPLETE, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&early), Some("FAILED_PRECONDITION"), "{early}");
    let done = p
        .graphql(
            Some(&firm_a),
            COMPLETE_MILESTONE,
            json!({ "pilot": id, "milestone": ids[1], "evidence": "야간 평가 보고서" }),
        )
        .await;
    data(&done, "completeMilestone");
    let completed = p
        .graphql(Some(&manager), COMPLETE, json!({ "id": id }))
        .await;
    assert_eq!(data(&completed, "completePilot")["status"], "COMPLETED");

    // Every transition, oldest first.
    let full = p.graphql(Some(&firm_a), PILOT, json!({ "id": id })).await;
    let history: Vec<(Value, Value)> = data(&full, "pilot")["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["from"].clone(), h["to"].clone()))
        .collect();
    let expected: Vec<(Value, Value)> = [
        (Value::Null, "DRAFT"),
        (json!("DRAFT"), "SUBMITTED"),
        (json!("SUBMITTED"), "APPROVED"),
        (json!("APPROVED"), "ACTIVE"),
        (json!("ACTIVE"), "COMPLETED"),
    ]
    .into_iter()
    .map(|(from, to)| (from, json!(to)))
    .collect();
    assert_eq!(history, expected, "{full}");

    // The partner reads it whole, the lead company included (onboarding shows B nothing of A:
    // the pilot's record of it stands in).
    let partner = p.graphql(Some(&firm_b), PILOT, json!({ "id": id })).await;
    let seen = data(&partner, "pilot");
    assert_eq!(seen["status"], "COMPLETED");
    assert_eq!(seen["budgetNational"], 1_200_000_000_i64);
    assert_eq!(seen["budgetPrivate"], 500_000_000_i64);
    assert_eq!(seen["regulatorySandbox"], true);
    assert_eq!(seen["leadCompany"]["nameKo"], "광주자율주행");
    assert_eq!(seen["leadCompany"]["sector"], "ARTIFICIAL_INTELLIGENCE");
    let roles: Vec<(&str, &str, &str)> = seen["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                str_of(&r["role"], "role"),
                str_of(&r["company"]["nameKo"], "nameKo"),
                str_of(&r["company"]["presence"], "presence"),
            )
        })
        .collect();
    assert!(
        roles.contains(&("lead", "광주자율주행", "HEADQUARTERS")),
        "{partner}"
    );
    assert!(
        roles.contains(&("partner", "빛고을센서", "HEADQUARTERS")),
        "{partner}"
    );
    let evidence: Vec<&Value> = seen["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["evidence"])
        .collect();
    assert!(
        evidence.contains(&&json!("https://axvalley.kr/reports/shuttle-trial.pdf")),
        "{partner}"
    );
    assert_eq!(seen["vouchers"], json!([]));
    let partner_list = p
        .graphql(
            Some(&firm_b),
            "{ pilots { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    // Its own pilot and the one it takes part in.
    assert_eq!(
        data(&partner_list, "pilots")["totalCount"],
        2,
        "{partner_list}"
    );
    assert!(
        data(&partner_list, "pilots")["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["id"] == id.as_str()),
        "{partner_list}"
    );

    // An unrelated firm: the pilot does not exist for it.
    let outsider = p.graphql(Some(&firm_c), PILOT, json!({ "id": id })).await;
    assert_eq!(error_code(&outsider), Some("NOT_FOUND"), "{outsider}");
    let outsider_list = p
        .graphql(
            Some(&firm_c),
            "{ pilots { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    let listed = data(&outsider_list, "pilots");
    assert_eq!(listed["totalCount"], 0, "{outsider_list}");
    assert_eq!(listed["edges"], json!([]));

    // Anonymous callers read the public registry: no consortium, milestones, history or
    // vouchers, and the budget is refused on its field.
    let registry = p.graphql(None, PUBLIC_PILOTS, json!({})).await;
    let edges = data(&registry, "pilots")["edges"].as_array().unwrap();
    let node = &edges
        .iter()
        .find(|e| e["node"]["id"] == id.as_str())
        .unwrap_or_else(|| panic!("not in the public registry: {registry}"))["node"];
    assert_eq!(node["title"], TITLE);
    assert_eq!(node["domain"], "AUTONOMOUS_DRIVING");
    assert_eq!(node["status"], "COMPLETED");
    assert_eq!(node["site"], SITE);
    assert_eq!(node["startsOn"], starts_on.as_str());
    assert_eq!(node["endsOn"], ends_on.as_str());
    assert_eq!(node["leadCompany"]["nameKo"], "광주자율주행");
    assert_eq!(node["leadCompany"]["sector"], "ARTIFICIAL_INTELLIGENCE");
    for empty in ["participants", "milestones", "history", "vouchers"] {
        assert_eq!(node[empty], json!([]), "{empty}: {registry}");
    }
    let budget = p
        .graphql(
            None,
            "query($id: ID!) { pilot(id: $id) { title budgetNational } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&budget), Some("FORBIDDEN"), "{budget}");
    assert_eq!(
        budget["errors"][0]["path"],
        json!(["pilot", "budgetNational"]),
        "{budget}"
    );
    // A dashboard sees the registry as anonymous callers do.
    let dashboard = p
        .graphql(
            Some(&p.token(Role::Dashboard)),
            "query($id: ID!) { pilot(id: $id) { title participants { role } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data(&dashboard, "pilot")["title"], TITLE);
    assert_eq!(data(&dashboard, "pilot")["participants"], json!([]));

    // The lead company lists its pilot; the partner company its own and A's, a page at a time.
    let company = p
        .graphql(
            Some(&firm_a),
            "query($id: ID!) { company(id: $id) { pilots { totalCount edges { node { title } } } } }",
            json!({ "id": company_a }),
        )
        .await;
    let pilots = &data(&company, "company")["pilots"];
    assert_eq!(pilots["totalCount"], 1, "{company}");
    assert_eq!(pilots["edges"][0]["node"]["title"], TITLE);
    let partner_company = p
        .graphql(
            Some(&manager),
            "query($id: ID!) { company(id: $id) { pilots(first: 1) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } } }",
            json!({ "id": company_b }),
        )
        .await;
    let pilots = &data(&partner_company, "company")["pilots"];
    assert_eq!(pilots["totalCount"], 2, "{partner_company}");
    assert_eq!(pilots["pageInfo"]["hasNextPage"], true);
    assert_eq!(pilots["edges"][0]["node"]["id"], id.as_str());
    let next = p
        .graphql(
            Some(&manager),
            "query($id: ID!, $after: String) { company(id: $id) { pilots(first: 1, after: $after) { pageInfo { hasNextPage } edges { node { id } } } } }",
            json!({ "id": company_b, "after": pilots["pageInfo"]["endCursor"] }),
        )
        .await;
    let pilots = &data(&next, "company")["pilots"];
    assert_eq!(pilots["pageInfo"]["hasNextPage"], false, "{next}");
    assert_eq!(pilots["edges"][0]["node"]["id"], b_pilot.as_str());
}

#[tokio::test]
async fn pilot_journey_through_graphql() {
    let p = TestPlatform::start().await;
    pilot_journey(&p).await;
    p.stop().await;
}

#[tokio::test]
async fn pilot_journey_on_the_embedded_default() {
    let p = TestPlatform::start_embedded().await;
    pilot_journey(&p).await;
    p.stop().await;
}

/// Korean typed on macOS arrives decomposed (NFD): it is stored composed, and every search
/// finds it whichever way the name or the search term was typed, in either case or width.
#[tokio::test]
async fn decomposed_korean_is_stored_composed_and_found() {
    use unicode_normalization::UnicodeNormalization;
    let p = TestPlatform::start().await;
    let manager = p.token(Role::ProgramManager);
    let firm = p.sign_up("nfd@pilot.kr").await;
    let composed = "빛고을에이아이";
    let decomposed: String = composed.nfd().collect();
    assert_ne!(decomposed, composed);
    let company = p.approved_company(&firm, 3301, &decomposed).await;
    let stored = p
        .graphql(
            Some(&manager),
            "query($id: ID!) { company(id: $id) { nameKo } }",
            json!({ "id": company }),
        )
        .await;
    assert_eq!(data(&stored, "company")["nameKo"], composed);

    let today = Utc::now().date_naive();
    let mut input = pilot_input(
        &company,
        &today.to_string(),
        &(today + Duration::days(90)).to_string(),
    );
    input["input"]["title"] = json!(format!("{decomposed} AI 교통 실증"));
    input["input"]["site"] = json!("광주 ＡＩ 집적단지".nfd().collect::<String>());
    let registered = p.graphql(Some(&firm), REGISTER, input).await;
    assert_eq!(
        data(&registered, "registerPilot")["title"],
        format!("{composed} AI 교통 실증")
    );

    let companies = "query($text: String!) { companies(filter: { text: $text }) { totalCount } }";
    let pilots = "query($text: String, $site: String) { pilots(filter: { text: $text, site: $site }) { totalCount } }";
    for term in [
        composed.to_owned(),
        decomposed.clone(),
        "에이아이".nfd().collect(),
    ] {
        let found = p
            .graphql(Some(&manager), companies, json!({ "text": term }))
            .await;
        assert_eq!(
            data(&found, "companies")["totalCount"],
            1,
            "{term:?}: {found}"
        );
        let found = p
            .graphql(Some(&firm), pilots, json!({ "text": term }))
            .await;
        assert_eq!(data(&found, "pilots")["totalCount"], 1, "{term:?}: {found}");
    }
    // Case and width: the English name "Test Firm" and the title's "AI" and the site's "ＡＩ".
    for term in ["TEST firm", "ｔｅｓｔ ＦＩＲＭ"] {
        let found = p
            .graphql(Some(&manager), companies, json!({ "text": term }))
            .await;
        assert_eq!(
            data(&found, "companies")["totalCount"],
            1,
            "{term:?}: {found}"
        );
    }
    for (text, site) in [("ａｉ 교통", "ai 집적"), ("Ai 교통", "ＡＩ")] {
        let found = p
            .graphql(Some(&firm), pilots, json!({ "text": text, "site": site }))
            .await;
        assert_eq!(
            data(&found, "pilots")["totalCount"],
            1,
            "{text:?} {site:?}: {found}"
        );
    }
    p.stop().await;
}
