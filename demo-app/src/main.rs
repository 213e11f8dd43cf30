//! `demo-app`: serves the demo shop on 127.0.0.1 with chaos enabled.

use std::io::{IsTerminal, Write};

use anyhow::Context;
use chaos_middleware::ChaosLayer;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// The demo shop, with the chaos layer reading actions from the store.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one; the chosen address is printed).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// The chaos store: sqlite://PATH, postgres://USER@HOST:PORT/DB, mysql://USER@HOST:PORT/DB,
    /// or the relay of `chaos-admin serve`: http://:RELAY_TOKEN@HOST:PORT.
    #[arg(
        long,
        env = "CHAOS_DATABASE_URL",
        default_value = "sqlite://chaos.db",
        hide_env_values = true
    )]
    database_url: String,
    /// Password of the chaos admin at /chaos (any user name).
    #[arg(
        long,
        env = "DEMO_ADMIN_PASSWORD",
        default_value = "chaos",
        hide_env_values = true
    )]
    admin_password: String,
    /// Do not turn panics into 500 responses (an injected panic then drops the
    /// connection; the server keeps serving either way).
    #[arg(long, env = "DEMO_NO_CATCH_PANIC", value_parser = clap::builder::BoolishValueParser::new())]
    no_catch_panic: bool,
    /// Wrap the shop's whole Router in the chaos layer (`ChaosLayer::around`) instead of
    /// every route (`Router::layer`).
    #[arg(long, env = "DEMO_WHOLE_ROUTER", value_parser = clap::builder::BoolishValueParser::new())]
    whole_router: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    // `.env` in the current directory, as `chaos-admin` reads it, so both use the same
    // CHAOS_DATABASE_URL (variables already set win).
    if std::path::Path::new(".env").is_file() {
        dotenvy::from_path(".env").context("cannot read .env in the current directory")?;
    }
    let args = Args::parse();
    let chaos = ChaosLayer::builder()
        .enabled(true)
        .database_url(&args.database_url)
        .views(demo_app::views())
        .build()
        .context("cannot build the chaos layer")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let address = listener.local_addr().context("no local address")?;
    println!(
        "chaos layer: {}",
        if args.whole_router {
            "around the whole Router (ChaosLayer::around)"
        } else {
            "on every route (Router::layer)"
        }
    );
    // Tests and scripts read this line to learn the port.
    println!("demo-app listening on http://{address}");
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    tracing::info!(store = %chaos_middleware::store::redact(&args.database_url), "chaos store");
    let handle = chaos.handle();
    let wiring = demo_app::Wiring {
        catch_panics: !args.no_catch_panic,
        whole_router: args.whole_router,
    };
    let app = demo_app::router(chaos, &format!("http://{address}"), wiring);
    let app = if chaos_middleware::relay::is_relay_url(&args.database_url) {
        // The admin works on a database: the relay's server (chaos-admin serve) has it.
        println!(
            "chaos admin: not embedded (the store is a relay): use the pages of that chaos-admin serve"
        );
        app
    } else {
        println!(
            "chaos admin on http://{address}/chaos/ (any user name, password from DEMO_ADMIN_PASSWORD)"
        );
        demo_app::with_admin(app, &args.database_url, &args.admin_password)
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Injected delays end at once and this instance leaves `chaos-admin status`.
            handle.shutdown().await;
        })
        .await
        .context("server failed")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
