//! Connections as the contract spells them: `{ edges { cursor node } pageInfo totalCount }`.

use std::ops::Range;

use async_graphql::SimpleObject;
use axv_platform::pagination;

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

/// Refuses a cursor this API did not issue before any service is asked.
pub(crate) fn check_cursor(after: Option<&str>) -> async_graphql::Result<Option<String>> {
    match after {
        None => Ok(None),
        Some(after) => pagination::decode_cursor(after)
            .map_err(|_| bad_input("after is not a cursor from this API")),
    }
}

/// A page of a parent's children that were loaded for a whole level at once (each company's
/// first vouchers, say): the nodes with their ids, the next page's token and the total.
pub(crate) struct PreloadedPage<T> {
    pub items: Vec<(String, T)>,
    pub next: String,
    pub total: i64,
}

impl<T> PreloadedPage<T> {
    /// The connection of the items as `node`s, built by its `from_page`.
    pub fn connection<N, C>(
        self,
        node: impl Fn(T) -> N,
        from_page: impl FnOnce(Vec<(String, N)>, String, i64) -> C,
    ) -> C {
        let nodes = self
            .items
            .into_iter()
            .map(|(id, item)| (id, node(item)))
            .collect();
        from_page(nodes, self.next, self.total)
    }
}

/// What page a client asks for (`first`, `after`), checked before any service is asked.
pub(crate) struct PageAsk {
    size: usize,
    after: Option<String>,
}

impl PageAsk {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> async_graphql::Result<Self> {
        Ok(PageAsk {
            size: usize::try_from(page_size(first)?).unwrap_or(pagination::DEFAULT_PAGE_SIZE),
            after: check_cursor(after)?,
        })
    }
}

/// The page `ask` is for among `loaded` (in id order, the order cursors follow; `total` in
/// all), or `None` when it reaches past what was loaded and the service must be asked for that
/// parent alone.
pub(crate) fn preloaded_page<T>(
    loaded: Vec<T>,
    total: i64,
    id_of: impl Fn(&T) -> &str,
    ask: &PageAsk,
) -> Option<PreloadedPage<T>> {
    let total = total.max(i64::try_from(loaded.len()).unwrap_or(i64::MAX));
    let ids: Vec<&str> = loaded.iter().map(&id_of).collect();
    let (range, more) = window(&ids, total, ask.after.as_deref(), ask.size)?;
    let items: Vec<(String, T)> = loaded
        .into_iter()
        .skip(range.start)
        .take(range.len())
        .map(|item| (id_of(&item).to_owned(), item))
        .collect();
    // `from_page` only asks whether a next page token exists.
    let next = match (more, items.last()) {
        (true, Some((id, _))) => pagination::encode_cursor(id),
        _ => String::new(),
    };
    Some(PreloadedPage { items, next, total })
}

/// Which of `ids` (a parent's loaded children in id order; `total` in all) a page shows, and
/// whether more follow; `None` when the page reaches past what was loaded.
pub(crate) fn window(
    ids: &[&str],
    total: i64,
    after: Option<&str>,
    size: usize,
) -> Option<(Range<usize>, bool)> {
    let start = after.map_or(0, |after| ids.partition_point(|id| *id <= after));
    let end = start.saturating_add(size);
    let truncated = i64::try_from(ids.len()).unwrap_or(i64::MAX) < total;
    if truncated && end > ids.len() {
        return None;
    }
    let more = end < ids.len() || truncated;
    Some((start.min(ids.len())..end.min(ids.len()), more))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const IDS: [&str; 5] = ["a", "b", "c", "d", "e"];

    #[test]
    fn pages_within_the_loaded_vouchers() {
        assert_eq!(window(&IDS, 5, None, 2), Some((0..2, true)));
        assert_eq!(window(&IDS, 5, Some("b"), 2), Some((2..4, true)));
        assert_eq!(window(&IDS, 5, Some("c"), 2), Some((3..5, false)));
        assert_eq!(window(&IDS, 5, None, 20), Some((0..5, false)));
        // A cursor past the last one: an empty last page.
        assert_eq!(window(&IDS, 5, Some("z"), 2), Some((5..5, false)));
        // A cursor between ids (its voucher gone since) still pages on from there.
        assert_eq!(window(&["a", "c"], 2, Some("b"), 2), Some((1..2, false)));
        assert_eq!(window(&[], 0, None, 20), Some((0..0, false)));
    }

    #[test]
    fn asks_the_service_beyond_the_loaded_vouchers() {
        // Seven in all, five loaded: a page ending at the fifth knows more follow...
        assert_eq!(window(&IDS, 7, Some("c"), 2), Some((3..5, true)));
        // ...one reaching past it cannot be served from them.
        assert_eq!(window(&IDS, 7, Some("c"), 3), None);
        assert_eq!(window(&IDS, 7, Some("e"), 1), None);
    }

    #[test]
    fn a_preloaded_page_carries_ids_and_the_next_cursor() {
        // Ids as the services make them (cursors carry only those).
        let ids: Vec<String> = (0..3).map(|_| axv_platform::ids::new_id()).collect();
        let loaded: Vec<&str> = ids.iter().map(String::as_str).collect();
        let ask = |first, after: Option<&str>| PageAsk::parse(first, after).unwrap();
        let page = preloaded_page(loaded.clone(), 3, |id| id, &ask(Some(2), None)).unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(page.next, pagination::encode_cursor(&ids[1]));
        let nodes = page.connection(str::len, |nodes, _, _| nodes);
        assert_eq!(
            nodes,
            [
                (ids[0].clone(), ids[0].len()),
                (ids[1].clone(), ids[1].len())
            ]
        );
        let after = pagination::encode_cursor(&ids[1]);
        let last = preloaded_page(loaded.clone(), 3, |id| id, &ask(Some(2), Some(&after)));
        assert!(last.unwrap().next.is_empty());
        // Ten in all, three loaded: a page past them goes to the service.
        assert!(preloaded_page(loaded, 10, |id| id, &ask(Some(5), None)).is_none());
    }

    #[test]
    fn a_bad_page_is_refused_before_anything_is_loaded() {
        assert!(PageAsk::parse(Some(0), None).is_err());
        assert!(PageAsk::parse(Some(101), None).is_err());
        assert!(PageAsk::parse(None, Some("forged")).is_err());
    }
}
