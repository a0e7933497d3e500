//! The payments gateway: `purse.payment.v1.PaymentsService`, the hosted checkout page and provider webhooks.
