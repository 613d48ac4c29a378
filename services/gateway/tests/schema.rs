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

/// Names the public contract (../shared/API.md) binds, for the part this gateway serves.
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
}
