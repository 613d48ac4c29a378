//! Connections as the contract spells them: `{ edges { cursor node } pageInfo totalCount }`.

use async_graphql::SimpleObject;

use crate::errors::bad_input;

#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

/// A connection type and its edge type for one node type.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty) => {
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            pub cursor: String,
            pub node: $node,
        }

        #[derive(async_graphql::SimpleObject)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            pub page_info: $crate::schema::connection::PageInfo,
            pub total_count: i32,
        }

        impl $connection {
            /// Builds a connection from a service's page; each node's cursor is its id's cursor.
            pub fn from_page(
                nodes: Vec<(String, $node)>,
                next_page_token: String,
                total: i64,
            ) -> Self {
                let edges: Vec<$edge> = nodes
                    .into_iter()
                    .map(|(id, node)| $edge {
                        cursor: axv_platform::pagination::encode_cursor(&id),
                        node,
                    })
                    .collect();
                let page_info = $crate::schema::connection::PageInfo {
                    has_next_page: !next_page_token.is_empty(),
                    end_cursor: edges.last().map(|edge| edge.cursor.clone()),
                };
                $connection {
                    edges,
                    page_info,
                    total_count: i32::try_from(total).unwrap_or(i32::MAX),
                }
            }
        }
    };
}
pub(crate) use connection;

/// `first`: 1..100, default 20; anything else is BAD_USER_INPUT.
pub fn page_size(first: Option<i32>) -> async_graphql::Result<i32> {
    match first {
        None => Ok(axv_platform::pagination::DEFAULT_PAGE_SIZE as i32),
        Some(n) if (1..=axv_platform::pagination::MAX_PAGE_SIZE as i32).contains(&n) => Ok(n),
        Some(_) => Err(bad_input("first must be between 1 and 100")),
    }
}
