//! `ets market …`: the market's operations for scripts, as a client of a running `ets serve`.
//!
//! Enterprises trade with their own API key and never see the database, so the CLI goes
//! through the HTTP API: the same validation, access rules, idempotency and journal as any
//! other client. Bodies are the API's own request types, so the two cannot drift apart.
//! Answers are printed as JSON on stdout; a refusal prints the problem's detail (and field) on
//! stderr and exits with status 1.

use anyhow::Result;
use api::routes::market::{
    AuctionBody, BidBody, CancelBody, CloseAuctionBody, ContainmentBody, ListInstrumentBody,
    MarketFreezeBody, MarketRuleBody, OrderBody, OrderType, PricingBody, RuleKind, SideBody,
    TimeInForceBody, TransferProposalBody,
};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use rand::RngCore;
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::http_client::{Client, Connection, WriteKey};

#[derive(Args, Debug)]
pub struct MarketArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: MarketCommand,
}

#[derive(Subcommand, Debug)]
enum MarketCommand {
    /// Instruments listed for trading, with tick, lot and today's price band.
    Instruments,
    /// List an instrument for continuous trading (bureau).
    ListInstrument {
        /// Ledger instrument code, e.g. `COD.yangtze-cq.2024`.
        instrument: String,
        /// Price tick in CNY per tonne.
        #[arg(long, default_value = "0.01")]
        tick: Decimal,
        /// Lot size in tonnes.
        #[arg(long, default_value_t = 1)]
        lot: u64,
        /// Reference price (previous close) in CNY per tonne; the band is ±10% around it.
        #[arg(long)]
        previous_close: Decimal,
        /// Quantities at or above this many tonnes are block trades (default 100,000).
        #[arg(long)]
        block_min: Option<u64>,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Place an order (enterprise): a limit order with `--price`, a market order without.
    Order {
        /// Buy or sell.
        #[arg(value_enum)]
        side: SideArg,
        /// Ledger instrument code.
        instrument: String,
        /// Tonnes, a multiple of the lot.
        quantity: Decimal,
        /// Limit price in CNY per tonne, a multiple of the tick; omit for a market order.
        #[arg(long)]
        price: Option<Decimal>,
        /// How long the order lives.
        #[arg(long = "tif", value_enum, default_value_t = TifArg::Day)]
        time_in_force: TifArg,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Cancel one of your resting orders (enterprise).
    Cancel {
        /// Ledger instrument code of the order's book.
        instrument: String,
        /// The order's number, as answered when it was placed.
        order: u64,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Your resting orders (enterprise), or every resting order (bureau).
    Orders {
        /// Only this instrument's orders.
        #[arg(long)]
        instrument: Option<String>,
    },
    /// Order book depth.
    Book {
        /// Ledger instrument code.
        instrument: String,
        /// Price levels per side.
        #[arg(long)]
        levels: Option<usize>,
    },
    /// Trades after a sequence number, oldest first (one page).
    Trades {
        /// Ledger instrument code.
        instrument: String,
        /// Only trades with a sequence number after this (the cursor).
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Most trades on the page (the server caps it).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// The trading day so far: open, high, low, last, volume, VWAP.
    Daily {
        /// Ledger instrument code.
        instrument: String,
    },
    /// Sealed-bid auctions: the bureau's reserve sales and enterprises' one-way bidding.
    #[command(subcommand)]
    Auction(AuctionCommand),
    /// Bilateral transfers: propose, then accept, reject, withdraw or veto.
    #[command(subcommand)]
    Transfer(TransferCommand),
    /// Freeze an enterprise in the market: its orders are cancelled, pending transfers vetoed
    /// (bureau).
    Freeze {
        /// The enterprise's credit code.
        enterprise: String,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Lift a market freeze (bureau).
    Unfreeze {
        /// The enterprise's credit code.
        enterprise: String,
        #[command(flatten)]
        write: WriteKey,
    },
    /// The market's rules: holding and purchase limits, price bands, and their history.
    #[command(subcommand)]
    Rule(RuleCommand),
}

#[derive(Subcommand, Debug)]
enum RuleCommand {
    /// Every rule set, oldest first, with who set it, when and why.
    Show,
    /// Set or lift a holding limit or a daily purchase limit (bureau).
    #[command(group(clap::ArgGroup::new("limit").required(true)))]
    Limit {
        /// Which limit.
        #[arg(value_enum)]
        kind: LimitArg,
        /// Ledger instrument code.
        instrument: String,
        /// The enterprise the limit is for (credit code); without it, the default for all.
        #[arg(long)]
        enterprise: Option<String>,
        /// The limit in whole tonnes.
        #[arg(long, value_name = "T", group = "limit")]
        tonnes: Option<u64>,
        /// The limit as a percentage of the instrument's circulation now (rounded down to
        /// whole tonnes when set).
        #[arg(long, value_name = "PCT", group = "limit")]
        share_pct: Option<Decimal>,
        /// Lift the limit.
        #[arg(long, group = "limit")]
        lift: bool,
        /// Why: kept in the rule's history.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Set an instrument's price bands (bureau), from the next day's close.
    Bands {
        /// Ledger instrument code.
        instrument: String,
        /// Orders within ± this percentage of the previous close.
        #[arg(long, value_name = "PCT")]
        regular_pct: Decimal,
        /// Block trades within ± this percentage of the previous close.
        #[arg(long, value_name = "PCT")]
        block_pct: Decimal,
        /// Why: kept in the rule's history.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: WriteKey,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LimitArg {
    /// Most an enterprise may hold, counting open purchases.
    Holding,
    /// Most an enterprise may buy in one trading day.
    Purchase,
}

#[derive(Subcommand, Debug)]
enum AuctionCommand {
    /// Draw a random tie-break seed and print it with its commitment (SHA-256). Publish the
    /// commitment with `open`; keep the seed secret until `close`. Nothing is sent.
    Seed,
    /// Open an auction of the bureau's reserve (bureau) or of your own rights (enterprise).
    Open {
        /// The auction's id, chosen by the seller.
        auction: u64,
        /// Ledger instrument code of what is sold.
        instrument: String,
        /// Tonnes offered, a multiple of the lot.
        #[arg(long)]
        volume: Decimal,
        /// CNY per tonne; bids below are refused.
        #[arg(long)]
        reserve_price: Decimal,
        /// Most one bidder may win, in percent of the volume.
        #[arg(long, default_value_t = 25)]
        bidder_cap_percent: u64,
        /// What winners pay.
        #[arg(long, value_enum, default_value_t = PricingArg::Uniform)]
        pricing: PricingArg,
        /// When bidding closes (RFC 3339, e.g. 2026-12-01T10:00:00Z).
        #[arg(long)]
        closes_at: DateTime<Utc>,
        /// SHA-256 (hex) of the tie-break seed (see `ets market auction seed`).
        #[arg(long)]
        seed_commitment: String,
        /// Cost-containment reserve (bureau): sold only if the auction clears at or above this
        /// price in CNY per tonne; needs --containment-volume.
        #[arg(long, requires = "containment_volume", value_name = "PRICE")]
        containment_trigger: Option<rust_decimal::Decimal>,
        /// Tonnes of the bureau's reserve held back for the cost-containment reserve; needs
        /// --containment-trigger.
        #[arg(long, requires = "containment_trigger", value_name = "TONNES")]
        containment_volume: Option<rust_decimal::Decimal>,
        #[command(flatten)]
        write: WriteKey,
    },
    /// An auction: state, awards once cleared, and the bids you may see.
    Show {
        /// The auction's id.
        auction: u64,
    },
    /// Bid in an auction (enterprise); your cash is held as the guarantee.
    Bid {
        /// The auction's id.
        auction: u64,
        /// CNY per tonne.
        #[arg(long)]
        price: Decimal,
        /// Tonnes, a multiple of the lot.
        #[arg(long)]
        quantity: Decimal,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Withdraw one of your bids before the close (enterprise).
    Withdraw {
        /// The auction's id.
        auction: u64,
        /// The bid's number, as answered when it was placed.
        bid: u32,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Close and clear an auction, revealing the seed (the seller).
    Close {
        /// The auction's id.
        auction: u64,
        /// The seed (hex, 32 bytes) whose SHA-256 was published at the open.
        #[arg(long)]
        seed: String,
        #[command(flatten)]
        write: WriteKey,
    },
}

#[derive(Subcommand, Debug)]
enum TransferCommand {
    /// Propose a transfer of your rights to a buyer (enterprise); the rights are held.
    Propose {
        /// Ledger instrument code of the rights transferred.
        instrument: String,
        /// The buyer's credit code.
        #[arg(long)]
        buyer: String,
        /// Tonnes, a multiple of the lot.
        #[arg(long)]
        quantity: Decimal,
        /// CNY per tonne.
        #[arg(long)]
        price: Decimal,
        /// When the proposal lapses (RFC 3339).
        #[arg(long)]
        expires_at: DateTime<Utc>,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Transfers you are party to (enterprise), or all of them (bureau).
    List,
    /// Accept a proposal made to you (the buyer): it settles delivery-versus-payment.
    Accept {
        /// The transfer's number.
        transfer: u64,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Reject a proposal made to you (the buyer).
    Reject {
        /// The transfer's number.
        transfer: u64,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Withdraw your own proposal (the seller).
    Withdraw {
        /// The transfer's number.
        transfer: u64,
        #[command(flatten)]
        write: WriteKey,
    },
    /// Veto a pending transfer (bureau).
    Veto {
        /// The transfer's number.
        transfer: u64,
        #[command(flatten)]
        write: WriteKey,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum SideArg {
    Buy,
    Sell,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum TifArg {
    /// Rests until the end of the trading day.
    Day,
    /// Immediate or cancel: what does not fill at once is cancelled.
    Ioc,
    /// Fill or kill: fills completely at once, or not at all.
    Fok,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum PricingArg {
    /// Every winner pays the clearing price.
    Uniform,
    /// Every winner pays its own bid.
    PayAsBid,
}

/// `ets market freeze` / `unfreeze`: `what` is the endpoint's last segment.
async fn oversee(
    client: &Client,
    what: &str,
    enterprise: String,
    write: &WriteKey,
) -> Result<Value> {
    let body = MarketFreezeBody { enterprise };
    client
        .post(&format!("/v1/market/{what}"), &body, write)
        .await
}

/// `ets market rule …`: one request to `/v1/market/rules`.
async fn rule(client: &Client, command: RuleCommand) -> Result<Value> {
    let body = |rule, instrument, reason| MarketRuleBody {
        rule,
        instrument,
        enterprise: None,
        limit_t: None,
        limit_share_pct: None,
        lift: false,
        regular_band_pct: None,
        block_band_pct: None,
        reason,
    };
    let (body, write) = match command {
        RuleCommand::Show => return client.get("/v1/market/rules", &[]).await,
        RuleCommand::Limit {
            kind,
            instrument,
            enterprise,
            tonnes,
            share_pct,
            lift,
            reason,
            write,
        } => {
            let kind = match kind {
                LimitArg::Holding => RuleKind::HoldingLimit,
                LimitArg::Purchase => RuleKind::PurchaseLimit,
            };
            let body = MarketRuleBody {
                enterprise,
                limit_t: tonnes,
                limit_share_pct: share_pct,
                lift,
                ..body(kind, instrument, reason)
            };
            (body, write)
        }
        RuleCommand::Bands {
            instrument,
            regular_pct,
            block_pct,
            reason,
            write,
        } => {
            let body = MarketRuleBody {
                regular_band_pct: Some(regular_pct),
                block_band_pct: Some(block_pct),
                ..body(RuleKind::Bands, instrument, reason)
            };
            (body, write)
        }
    };
    client.post("/v1/market/rules", &body, &write).await
}

pub async fn run(args: MarketArgs) -> Result<()> {
    let client = Client::new(&args.connection)?;
    let answer = match args.command {
        MarketCommand::Instruments => client.get("/v1/market/instruments", &[]).await?,
        MarketCommand::ListInstrument {
            instrument,
            tick,
            lot,
            previous_close,
            block_min,
            write,
        } => {
            let body = ListInstrumentBody {
                instrument,
                tick,
                lot_t: lot,
                previous_close,
                block_min_t: block_min,
            };
            client.post("/v1/market/instruments", &body, &write).await?
        }
        MarketCommand::Order {
            side,
            instrument,
            quantity,
            price,
            time_in_force,
            write,
        } => {
            let body = OrderBody {
                instrument,
                side: match side {
                    SideArg::Buy => SideBody::Buy,
                    SideArg::Sell => SideBody::Sell,
                },
                order_type: match price {
                    Some(_) => OrderType::Limit,
                    None => OrderType::Market,
                },
                price,
                quantity,
                time_in_force: match time_in_force {
                    TifArg::Day => TimeInForceBody::Day,
                    TifArg::Ioc => TimeInForceBody::Ioc,
                    TifArg::Fok => TimeInForceBody::Fok,
                },
            };
            client.post("/v1/market/orders", &body, &write).await?
        }
        MarketCommand::Cancel {
            instrument,
            order,
            write,
        } => {
            let body = CancelBody { instrument, order };
            client
                .post("/v1/market/orders/cancel", &body, &write)
                .await?
        }
        MarketCommand::Orders { instrument } => {
            let query: Vec<_> = instrument.map(|i| ("instrument", i)).into_iter().collect();
            client.get("/v1/market/orders", &query).await?
        }
        MarketCommand::Book { instrument, levels } => {
            let mut query = vec![("instrument", instrument)];
            query.extend(levels.map(|l| ("levels", l.to_string())));
            client.get("/v1/market/book", &query).await?
        }
        MarketCommand::Trades {
            instrument,
            after,
            limit,
        } => {
            let mut query = vec![("instrument", instrument), ("after", after.to_string())];
            query.extend(limit.map(|l| ("limit", l.to_string())));
            client.get("/v1/market/trades", &query).await?
        }
        MarketCommand::Daily { instrument } => {
            client
                .get("/v1/market/daily", &[("instrument", instrument)])
                .await?
        }
        MarketCommand::Auction(command) => auction(&client, command).await?,
        MarketCommand::Transfer(command) => transfer(&client, command).await?,
        MarketCommand::Freeze { enterprise, write } => {
            oversee(&client, "freezes", enterprise, &write).await?
        }
        MarketCommand::Unfreeze { enterprise, write } => {
            oversee(&client, "unfreezes", enterprise, &write).await?
        }
        MarketCommand::Rule(command) => rule(&client, command).await?,
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// The body of `ets market auction open`, from its flags.
fn open_body(command: AuctionCommand) -> Result<(AuctionBody, WriteKey)> {
    let AuctionCommand::Open {
        auction,
        instrument,
        volume,
        reserve_price,
        bidder_cap_percent,
        pricing,
        closes_at,
        seed_commitment,
        containment_trigger,
        containment_volume,
        write,
    } = command
    else {
        anyhow::bail!("not an auction opening");
    };

    let containment = containment_trigger
        .zip(containment_volume)
        .map(|(trigger_price, volume)| ContainmentBody {
            trigger_price,
            volume,
        });
    let body = AuctionBody {
        auction,
        instrument,
        volume,
        reserve_price,
        bidder_cap_percent,
        pricing: match pricing {
            PricingArg::Uniform => PricingBody::Uniform,
            PricingArg::PayAsBid => PricingBody::PayAsBid,
        },
        closes_at,
        seed_commitment,
        containment,
    };
    Ok((body, write))
}

async fn auction(client: &Client, command: AuctionCommand) -> Result<Value> {
    Ok(match command {
        AuctionCommand::Seed => {
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            serde_json::json!({
                "seed": hex::encode(seed),
                "seed_commitment": hex::encode(Sha256::digest(seed)),
            })
        }
        open @ AuctionCommand::Open { .. } => {
            let (body, write) = open_body(open)?;
            client.post("/v1/market/auctions", &body, &write).await?
        }
        AuctionCommand::Show { auction } => {
            client
                .get(&format!("/v1/market/auctions/{auction}"), &[])
                .await?
        }
        AuctionCommand::Bid {
            auction,
            price,
            quantity,
            write,
        } => {
            let body = BidBody { price, quantity };
            client
                .post(
                    &format!("/v1/market/auctions/{auction}/bids"),
                    &body,
                    &write,
                )
                .await?
        }
        AuctionCommand::Withdraw {
            auction,
            bid,
            write,
        } => {
            client
                .post(
                    &format!("/v1/market/auctions/{auction}/bids/{bid}/withdraw"),
                    &serde_json::json!({}),
                    &write,
                )
                .await?
        }
        AuctionCommand::Close {
            auction,
            seed,
            write,
        } => {
            let body = CloseAuctionBody { seed };
            client
                .post(
                    &format!("/v1/market/auctions/{auction}/close"),
                    &body,
                    &write,
                )
                .await?
        }
    })
}

async fn transfer(client: &Client, command: TransferCommand) -> Result<Value> {
    let (transfer, decision, write) = match command {
        TransferCommand::Propose {
            instrument,
            buyer,
            quantity,
            price,
            expires_at,
            write,
        } => {
            let body = TransferProposalBody {
                instrument,
                buyer,
                quantity,
                price,
                expires_at,
            };
            return client.post("/v1/market/transfers", &body, &write).await;
        }
        TransferCommand::List => return client.get("/v1/market/transfers", &[]).await,
        TransferCommand::Accept { transfer, write } => (transfer, "accept", write),
        TransferCommand::Reject { transfer, write } => (transfer, "reject", write),
        TransferCommand::Withdraw { transfer, write } => (transfer, "withdraw", write),
        TransferCommand::Veto { transfer, write } => (transfer, "veto", write),
    };
    client
        .post(
            &format!("/v1/market/transfers/{transfer}/{decision}"),
            &serde_json::json!({}),
            &write,
        )
        .await
}
