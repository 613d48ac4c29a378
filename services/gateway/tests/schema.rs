//! The served schema is the checked-in one: a change to the public contract shows up in review.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn served_schema_matches_schema_graphql() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let served = axv_gateway::schema::sdl();
    if std::env::var("AXV_UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(path, &served).unwrap();
    }
    let checked_in = std::fs::read_to_string(path).unwrap();
    assert!(
        served == checked_in,
        "the served schema differs from services/gateway/schema.graphql; if the change is intended, \
         run `AXV_UPDATE_SCHEMA=1 cargo test -p axv-gateway --test schema` and commit the file"
    );
}

/// Names the public contract binds (integrators depend on them), for the part this gateway serves.
#[test]
fn contract_names_are_present() {
    let sdl = axv_gateway::schema::sdl();
    for name in [
        "me: Viewer",
        "company(id: ID!): Company",
        "companies(filter: CompanyFilter, first: Int, after: String): CompanyConnection!",
        "signUp(input: SignUpInput!): AuthPayload!",
        "login(email: String!, password: String!): AuthPayload!",
        "refreshToken(refreshToken: String!): AuthPayload!",
        "logout: Boolean!",
        "createCompany(input: CompanyInput!): Company!",
        "updateCompany(id: ID!, input: CompanyInput!): Company!",
        "submitCompany(id: ID!): Company!",
        "startCompanyReview(id: ID!): Company!",
        "approveCompany(id: ID!, note: String): Company!",
        "rejectCompany(id: ID!, note: String!): Company!",
        "requestCompanyChanges(id: ID!, note: String!): Company!",
        "suspendCompany(id: ID!, note: String!): Company!",
        "reinstateCompany(id: ID!, note: String): Company!",
        "scalar DateTime",
        "scalar Date",
        "scalar Long",
        "hasNextPage: Boolean!",
        "endCursor: String",
        "totalCount: Int!",
        "history: [StatusChange!]!",
        // Notifications (the people-facing additions).
        "notifications(unreadOnly: Boolean, first: Int, after: String): NotificationConnection!",
        // The audit trail.
        "auditLog(filter: AuditFilter, first: Int, after: String): AuditEntryConnection!",
        "byUser: User",
        // Documents.
        "scalar Upload",
        "documents: [Document!]!",
        "fileName: String!",
        "contentType: String!",
        "size: Long!",
        "sha256: String!",
        "uploadedAt: DateTime!",
        "uploadedBy: User!",
        // The vouchers part.
        "resourcePools: [ResourcePool!]!",
        "voucherPrograms: [VoucherProgram!]!",
        "voucherApplications(filter: VoucherApplicationFilter, first: Int, after: String): VoucherApplicationConnection!",
        "voucher(id: ID!): Voucher",
        "vouchers(filter: VoucherFilter, first: Int, after: String): VoucherConnection!",
        "vouchers(first: Int, after: String): VoucherConnection!",
        "createResourcePool(input: ResourcePoolInput!): ResourcePool!",
        "createVoucherProgram(input: VoucherProgramInput!): VoucherProgram!",
        "applyForVoucher(input: VoucherApplicationInput!): VoucherApplication!",
        "approveVoucherApplication(id: ID!, grantedAmount: Long, note: String): Voucher!",
        "rejectVoucherApplication(id: ID!, note: String!): VoucherApplication!",
        "revokeVoucher(id: ID!, note: String!): Voucher!",
        "recordUsage(input: UsageInput!): UsageRecord!",
        "ingestUsage(cluster: String!, sacct: String!): UsageIngestReport!",
        "pool: ResourcePool!",
        "program: VoucherProgram!",
        "company: Company!",
        "voucher: Voucher",
        "voucher: Voucher!",
        "ledger(first: Int, after: String): LedgerEntryConnection!",
        "balanceAfter: Long!",
        "duplicate: Boolean!",
        "rejected: [RejectedLine!]!",
        "maxPerCompany: Long!",
        "sectors: [Sector!]!",
        "sectors: [Sector!]\n",
        "requestedAmount: Long!",
        "validFrom: Date!",
        "startedAt: DateTime!",
        "endedAt: DateTime!",
        // The pilots part.
        "pilot(id: ID!): Pilot",
        "pilots(filter: PilotFilter, first: Int, after: String): PilotConnection!",
        "pilots(first: Int, after: String): PilotConnection!",
        "registerPilot(input: PilotInput!): Pilot!",
        "submitPilot(id: ID!): Pilot!",
        "approvePilot(id: ID!, note: String): Pilot!",
        "rejectPilot(id: ID!, note: String!): Pilot!",
        "startPilot(id: ID!): Pilot!",
        // The contract's completePilot(id: ID!), with the note a manager completing with open
        // milestones must give.
        "completePilot(id: ID!, note: String): Pilot!",
        "addPilotParticipant(pilotId: ID!, companyId: ID!, role: String!): Pilot!",
        "addMilestone(pilotId: ID!, input: MilestoneInput!): Pilot!",
        "completeMilestone(pilotId: ID!, milestoneId: ID!, evidence: String): Pilot!",
        "input PilotInput {",
        "leadCompanyId: ID!",
        "startsOn: Date!",
        "endsOn: Date!",
        "budgetNational: Long!",
        "budgetCity: Long!",
        "budgetPrivate: Long!",
        "regulatorySandbox: Boolean!",
        "type Pilot {",
        "domain: PilotDomain!",
        "status: PilotStatus!",
        "leadCompany: Company!",
        "participants: [PilotParticipant!]!",
        "site: String!",
        "milestones: [Milestone!]!",
        "vouchers: [Voucher!]!",
        "type PilotParticipant {",
        "role: String!",
        "input MilestoneInput {",
        "dueOn: Date!",
        "type Milestone {",
        "completedAt: DateTime",
        "evidence: String",
        "pilot: Pilot\n",
        "input PilotFilter {",
        "domains: [PilotDomain!]",
        "statuses: [PilotStatus!]",
        "companyId: ID",
        "activeFrom: Date",
        "activeUntil: Date",
        // The outcomes part.
        "outcomeReport(id: ID!): OutcomeReport",
        "outcomeReports(filter: OutcomeReportFilter, first: Int, after: String): OutcomeReportConnection!",
        "createOutcomeReport(input: OutcomeReportInput!): OutcomeReport!",
        "submitOutcomeReport(id: ID!): OutcomeReport!",
        "verifyOutcomeReport(id: ID!, note: String): OutcomeReport!",
        "returnOutcomeReport(id: ID!, note: String!): OutcomeReport!",
        "outcomeReports: [OutcomeReport!]!",
        "input OutcomeReportInput {",
        "pilotId: ID!",
        "periodStart: Date!",
        "periodEnd: Date!",
        "modelsDeveloped: Int!",
        "modelsImproved: Int!",
        "modelsCommercialized: Int!",
        "revenueKrw: Long!",
        "patentsFiled: Int!",
        "patentsRegistered: Int!",
        "papers: Int!",
        "newHires: Int!",
        "investmentKrw: Long!",
        "type OutcomeReport {",
        "pilot: Pilot!",
        "computeConsumed: Long!",
        "status: ReportStatus!",
        "version: Int!",
        "input OutcomeReportFilter {",
        "pilotId: ID\n",
        "statuses: [ReportStatus!]",
    ] {
        assert!(sdl.contains(name), "missing from the schema: {name}");
    }
    for value in [
        "FIRM_MEMBER",
        "PROGRAM_MANAGER",
        "ARTIFICIAL_INTELLIGENCE",
        "PHOTONICS_APPLIANCES",
        "RESEARCH_LAB",
        "CHANGES_REQUESTED",
        "UNDER_REVIEW",
    ] {
        assert!(sdl.contains(value), "missing enum value {value}");
    }
    // The vouchers part's enums, whole: every value, in the contract's order.
    for (name, values) in [
        ("ResourceKind", &["GPU_H100", "NPU", "STORAGE"][..]),
        ("FundingSource", &["NATIONAL", "CITY", "PRIVATE"]),
        (
            "VoucherApplicationStatus",
            &["SUBMITTED", "APPROVED", "REJECTED", "WITHDRAWN"],
        ),
        (
            "VoucherStatus",
            &["ACTIVE", "EXHAUSTED", "EXPIRED", "REVOKED", "FROZEN"],
        ),
        (
            "PilotDomain",
            &[
                "AUTONOMOUS_DRIVING",
                "HEALTHCARE",
                "ENERGY",
                "TRAFFIC",
                "PUBLIC_SAFETY",
                "AI_SEMICONDUCTOR",
                "MANUFACTURING_ROBOTICS",
                "CULTURE_CONTENT",
                "DATA",
                "OTHER",
            ],
        ),
        (
            "PilotStatus",
            &[
                "DRAFT",
                "SUBMITTED",
                "APPROVED",
                "REJECTED",
                "ACTIVE",
                "COMPLETED",
                "SUSPENDED",
                "CANCELLED",
            ],
        ),
        (
            "ReportStatus",
            &["DRAFT", "SUBMITTED", "VERIFIED", "RETURNED"],
        ),
    ] {
        let body: Vec<String> = values.iter().map(|v| format!("\t{v}\n")).collect();
        let block = format!("enum {name} {{\n{}}}", body.concat());
        assert!(sdl.contains(&block), "missing or different: {block}");
    }
}
