//! Paging over the List* RPCs: send the request with `page_token` set to the previous page's
//! `next_page_token` until that token comes back empty.

use std::future::Future;

use purse_proto::payment::v1::{
    ListPaymentMethodsRequest, ListPaymentMethodsResponse, PaymentMethod,
};
use purse_proto::topup::v1::{ListTopUpsRequest, ListTopUpsResponse, TopUp};
use purse_proto::wallet::v1::{
    ListEntriesRequest, ListEntriesResponse, ListTransactionsRequest, ListTransactionsResponse,
    ListWalletsRequest, ListWalletsResponse, Transaction, Wallet,
};

/// A List* request: it names the page it asks for.
pub trait PageRequest: Clone {
    /// Sets the page size and the token of the page wanted (empty for the first).
    fn set_page(&mut self, page_size: u32, page_token: String);
}

/// A List* response: one page of items and the token of the next page (empty after the last).
pub trait PageResponse {
    /// What the page lists.
    type Item;
    /// The items and the next page's token.
    fn into_page(self) -> (Vec<Self::Item>, String);
}

impl<P: PageResponse> PageResponse for tonic::Response<P> {
    type Item = P::Item;
    fn into_page(self) -> (Vec<Self::Item>, String) {
        self.into_inner().into_page()
    }
}

macro_rules! paged {
    ($request:ty, $response:ty, $items:ident: $item:ty) => {
        impl PageRequest for $request {
            fn set_page(&mut self, page_size: u32, page_token: String) {
                self.page_size = page_size;
                self.page_token = page_token;
            }
        }

        impl PageResponse for $response {
            type Item = $item;
            fn into_page(self) -> (Vec<$item>, String) {
                (self.$items, self.next_page_token)
            }
        }
    };
}

paged!(ListWalletsRequest, ListWalletsResponse, wallets: Wallet);
paged!(ListEntriesRequest, ListEntriesResponse, entries: Transaction);
// The deprecated alias of ListEntries, for clients that still call it.
paged!(ListTransactionsRequest, ListTransactionsResponse, transactions: Transaction);
paged!(ListTopUpsRequest, ListTopUpsResponse, top_ups: TopUp);
paged!(ListPaymentMethodsRequest, ListPaymentMethodsResponse, payment_methods: PaymentMethod);

/// The pages of one listing, fetched one call at a time by `call` (a List* RPC, or a
/// [`crate::Client::call`] or [`crate::retry`] around one).
#[derive(Debug)]
pub struct Pager<Req, F> {
    request: Req,
    page_size: u32,
    call: F,
    /// The token of the next page; `None` once the last page was fetched.
    next: Option<String>,
}

impl<Req, F, Fut, Resp, E> Pager<Req, F>
where
    Req: PageRequest,
    F: FnMut(Req) -> Fut,
    Fut: Future<Output = Result<Resp, E>>,
    Resp: PageResponse,
{
    /// Lists what `request` selects, `page_size` items per call, from its first page.
    pub fn new(request: Req, page_size: u32, call: F) -> Self {
        Pager {
            request,
            page_size,
            call,
            next: Some(String::new()),
        }
    }

    /// The next page, or `None` after the last. A failed call can be repeated by calling
    /// again: the pager stays on the page that failed.
    pub async fn next_page(&mut self) -> Option<Result<Vec<Resp::Item>, E>> {
        let token = self.next.clone()?;
        let mut request = self.request.clone();
        request.set_page(self.page_size, token);
        Some((self.call)(request).await.map(|response| {
            let (items, next) = response.into_page();
            self.next = Some(next).filter(|token| !token.is_empty());
            items
        }))
    }

    /// Every item of every remaining page, in the server's order; stops at the first failure.
    pub async fn collect(mut self) -> Result<Vec<Resp::Item>, E> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await {
            all.extend(page?);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `items` in pages the way the server does: the token is the offset of the next
    /// page, and the last page has none.
    fn serve(items: &[Transaction], request: &ListEntriesRequest) -> ListEntriesResponse {
        let start: usize = if request.page_token.is_empty() {
            0
        } else {
            request
                .page_token
                .parse()
                .expect("a token this server issued")
        };
        let end = (start + request.page_size as usize).min(items.len());
        ListEntriesResponse {
            entries: items[start..end].to_vec(),
            next_page_token: if end < items.len() {
                end.to_string()
            } else {
                String::new()
            },
        }
    }

    fn entries(count: u64) -> Vec<Transaction> {
        (1..=count)
            .map(|sequence| Transaction {
                sequence,
                ..Default::default()
            })
            .collect()
    }

    #[tokio::test]
    async fn pages_until_the_token_is_empty() {
        let items = entries(7);
        let mut asked = Vec::new();
        let request = ListEntriesRequest {
            wallet_id: "w".into(),
            min_sequence: 3,
            ..Default::default()
        };
        let all = Pager::new(request, 3, |request: ListEntriesRequest| {
            asked.push((request.page_size, request.page_token.clone()));
            // Every page keeps the request's own filters.
            assert_eq!((request.wallet_id.as_str(), request.min_sequence), ("w", 3));
            let page = serve(&items, &request);
            async move { Ok::<_, tonic::Status>(tonic::Response::new(page)) }
        })
        .collect()
        .await
        .unwrap();
        assert_eq!(all, items);
        let asked: Vec<_> = asked.iter().map(|(s, t)| (*s, t.as_str())).collect();
        assert_eq!(asked, [(3, ""), (3, "3"), (3, "6")]);
    }

    #[tokio::test]
    async fn an_empty_listing_is_one_call_and_a_failure_can_be_repeated() {
        let mut calls = 0;
        let mut pager = Pager::new(ListEntriesRequest::default(), 10, |request| {
            calls += 1;
            let outcome = if calls == 1 {
                Err(tonic::Status::unavailable("starting"))
            } else {
                Ok(serve(&[], &request))
            };
            async move { outcome }
        });
        assert!(pager.next_page().await.unwrap().is_err());
        assert_eq!(pager.next_page().await.unwrap().unwrap(), Vec::new());
        assert!(pager.next_page().await.is_none());
        assert_eq!(calls, 2);
    }
}
