//! The top-ups service: `purse.topup.v1.TopUpService` over the top-up shards and read models.
