# Regenerates the R reference fixtures for tests/test_its.py.
#
#   Rscript tests/reference/its_reference.R      (from the project root)
#
# Needs Debian's r-base-core, r-cran-sandwich, r-cran-nlme and r-cran-mass.
# Writes, next to this script:
#   its_series.csv     simulated monthly series (one block of rows per `series`)
#   its_reference.csv  R's estimates and standard errors for each (series, model, term)
#
# Parameterisation (the same as cocEval.its): t = integer period, post = t >= start,
# tsince = (t - start) * post, so `level_change` is the jump at the first intervention period
# and `trend_change` the change in slope from there. A second interruption `end` adds
# post2 = t >= end and tsince2 = (t - end) * post2. Fourier terms are sin/cos(2*pi*k*m/12) on the
# calendar month m (as tsModel::harmonic). Controlled ITS stacks treated (g = 1) and control
# (g = 0) rows with the "difference" columns multiplied by -(1 - g) (see cocEval.its).

# GLMs are converged more tightly than R's default (epsilon 1e-8 on the deviance) so that the
# fixtures are the maximum-likelihood answer to ~1e-10 rather than to R's stopping rule.
tight <- glm.control(epsilon = 1e-12, maxit = 100)

suppressPackageStartupMessages({
  library(nlme)
  library(sandwich)
  library(MASS)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

set.seed(20240401)

ar1_noise <- function(n, rho, sd) as.numeric(arima.sim(list(ar = rho), n = n, sd = sd))

make_dates <- function(n, first = as.Date("2021-04-01")) seq(first, by = "month", length.out = n)

base_cols <- function(d, start, end = NA) {
  d$post <- as.numeric(d$t >= start)
  d$tsince <- (d$t - start) * d$post
  if (!is.na(end)) {
    d$post2 <- as.numeric(d$t >= end)
    d$tsince2 <- (d$t - end) * d$post2
  }
  m <- as.integer(format(d$date, "%m"))
  d$s1 <- sin(2 * pi * m / 12); d$c1 <- cos(2 * pi * m / 12)
  d$s2 <- sin(4 * pi * m / 12); d$c2 <- cos(4 * pi * m / 12)
  d
}

series <- list()
add_series <- function(name, d, start, end = NA, exclude = "", control = "") {
  d$series <- name
  d$start <- start
  d$end <- end
  d$exclude <- exclude
  d$control_of <- control
  series[[name]] <<- d
}

# --- gaussian series -----------------------------------------------------------------------
n <- 48; t <- 1:n; start <- 25
d <- data.frame(t = t, date = make_dates(n))
d$y <- 50 + 0.3 * t - 4 * (t >= start) - 0.4 * pmax(t - start, 0) * (t >= start) + ar1_noise(n, 0.4, 2)
add_series("g1", d, start)

n <- 60; t <- 1:n; start <- 37; end <- 52
d <- data.frame(t = t, date = make_dates(n))
d$y <- 20 - 0.1 * t + 3 * (t >= start) + 0.2 * pmax(t - start, 0) - 0.25 * pmax(t - end, 0) +
  ar1_noise(n, 0.7, 1)
add_series("g2", d, start, end = end)

n <- 36; t <- 1:n; start <- 19
d <- data.frame(t = t, date = make_dates(n, as.Date("2022-01-01")))
d$y <- 10 + 0.05 * t + 1.5 * (t >= start) + rnorm(n, sd = 0.8)
add_series("g3", d, start, exclude = "19;20")

# control series for g1 (same periods, no intervention)
n <- 48; t <- 1:n
d <- data.frame(t = t, date = make_dates(n))
d$y <- 45 + 0.25 * t + ar1_noise(n, 0.4, 2)
add_series("g1c", d, 25, control = "g1")

# --- count series ---------------------------------------------------------------------------
n <- 60; t <- 1:n; start <- 37
d <- data.frame(t = t, date = make_dates(n))
d$exposure <- round(3000 + 400 * sin(t / 5) + runif(n, -200, 200))
m <- as.integer(format(d$date, "%m"))
eta <- log(d$exposure / 1000) + log(6) + 0.004 * t - 0.2 * (t >= start) - 0.01 * pmax(t - start, 0) +
  0.15 * sin(2 * pi * m / 12) + 0.1 * cos(2 * pi * m / 12)
d$y <- rnbinom(n, mu = exp(eta), size = 12)
add_series("c1", d, start)

n <- 48; t <- 1:n; start <- 25
d <- data.frame(t = t, date = make_dates(n))
d$exposure <- round(runif(n, 800, 1200))
d$y <- rpois(n, exp(log(d$exposure / 1000) + log(3) - 0.3 * (t >= start)))
add_series("c2", d, start)

n <- 60; t <- 1:n; start <- 25; end <- 49
d <- data.frame(t = t, date = make_dates(n))
d$exposure <- round(runif(n, 2000, 2600))
d$y <- rnbinom(n, mu = exp(log(d$exposure / 1000) + log(10) - 0.25 * (t >= start) + 0.2 * (t >= end)),
               size = 8)
add_series("c3", d, start, end = end)

# --- proportions ----------------------------------------------------------------------------
n <- 48; t <- 1:n; start <- 25
d <- data.frame(t = t, date = make_dates(n))
d$trials <- sample(20:80, n, replace = TRUE)
p <- plogis(0.3 + 0.005 * t + 0.35 * (t >= start) + rnorm(n, sd = 0.15))
d$y <- rbinom(n, d$trials, p)
add_series("b1", d, start)

# --- fits -----------------------------------------------------------------------------------
rows <- list()
put <- function(name, model, est, se, terms) {
  rows[[length(rows) + 1]] <<- data.frame(series = name, model = model, term = terms,
                                           estimate = unname(est[terms]), se = unname(se[terms]))
}
put_extra <- function(name, model, term, value) {
  rows[[length(rows) + 1]] <<- data.frame(series = name, model = model, term = term,
                                           estimate = value, se = NA_real_)
}

design_terms <- function(end) {
  tt <- c("t", "post", "tsince")
  if (!is.na(end)) tt <- c(tt, "post2", "tsince2")
  tt
}
rename <- function(x) {
  map <- c(t = "trend", post = "level_change", tsince = "trend_change", post2 = "sustain_level_change",
           tsince2 = "sustain_trend_change", s1 = "sin1", c1 = "cos1", s2 = "sin2", c2 = "cos2",
           "(Intercept)" = "intercept")
  out <- x; nm <- names(x); names(out) <- ifelse(nm %in% names(map), map[nm], nm); out
}
glm_rows <- function(name, model, fit, vc = vcov(fit)) {
  est <- rename(coef(fit)); se <- rename(sqrt(diag(vc)))
  put(name, model, est, se, names(est))
}

for (name in c("g1", "g2", "g3")) {
  d0 <- series[[name]]
  start <- d0$start[1]; end <- d0$end[1]
  d <- base_cols(d0, start, end)
  if (d0$exclude[1] != "") d <- d[!(d$t %in% as.integer(strsplit(d0$exclude[1], ";")[[1]])), ]
  f <- reformulate(design_terms(end), "y")
  ols <- lm(f, data = d)
  glm_rows(name, "ols", ols)
  put_extra(name, "ols", "sigma", summary(ols)$sigma)
  for (lag in c(1, 3)) {
    glm_rows(name, paste0("newey-west lag ", lag), ols,
             NeweyWest(ols, lag = lag, prewhite = FALSE, adjust = TRUE))
  }
  for (meth in c("ML", "REML")) {
    g <- gls(f, data = d, correlation = corAR1(form = ~ t), method = meth)
    model <- paste("ar1", meth)
    glm_rows(name, model, g)
    put_extra(name, model, "phi", as.numeric(coef(g$modelStruct$corStruct, unconstrained = FALSE)))
    put_extra(name, model, "sigma", g$sigma)
    put_extra(name, model, "loglik", as.numeric(logLik(g)))
  }
}

# controlled ITS (ordinary least squares and AR(1) within each series)
{
  tr <- base_cols(series[["g1"]], 25); co <- base_cols(series[["g1c"]], 25)
  tr$g <- 1; co$g <- 0
  d <- rbind(tr[, c("t", "y", "post", "tsince", "g")], co[, c("t", "y", "post", "tsince", "g")])
  d$diff_intercept <- -(1 - d$g); d$diff_trend <- -(1 - d$g) * d$t
  d$diff_level_change <- -(1 - d$g) * d$post; d$diff_trend_change <- -(1 - d$g) * d$tsince
  f <- y ~ t + post + tsince + diff_intercept + diff_trend + diff_level_change + diff_trend_change
  ols <- lm(f, data = d)
  glm_rows("g1", "controlled ols", ols)
  g <- gls(f, data = d, correlation = corAR1(form = ~ t | g), method = "ML")
  glm_rows("g1", "controlled ar1 ML", g)
  put_extra("g1", "controlled ar1 ML", "phi", as.numeric(coef(g$modelStruct$corStruct, unconstrained = FALSE)))
}

for (name in c("c1", "c2", "c3")) {
  d0 <- series[[name]]
  start <- d0$start[1]; end <- d0$end[1]
  d <- base_cols(d0, start, end)
  f <- reformulate(c(design_terms(end), "offset(log(exposure))"), "y")
  fs <- reformulate(c(design_terms(end), "s1", "c1", "s2", "c2", "offset(log(exposure))"), "y")
  p <- glm(f, family = poisson, data = d, control = tight)
  glm_rows(name, "poisson", p)
  glm_rows(name, "poisson newey-west lag 2", p, NeweyWest(p, lag = 2, prewhite = FALSE, adjust = TRUE))
  q <- glm(f, family = quasipoisson, data = d, control = tight)
  glm_rows(name, "quasipoisson", q)
  put_extra(name, "quasipoisson", "dispersion", summary(q)$dispersion)
  ps <- glm(fs, family = poisson, data = d, control = tight)
  glm_rows(name, "poisson fourier 2", ps)
  qs <- glm(fs, family = quasipoisson, data = d, control = tight)
  glm_rows(name, "quasipoisson fourier 2", qs)
  # c2 is Poisson (no overdispersion): glm.nb's theta diverges there, so it is no reference.
  if (name == "c2") next
  nb <- glm.nb(f, data = d, control = tight)
  glm_rows(name, "negbin", nb)
  put_extra(name, "negbin", "theta", nb$theta)
  nbs <- glm.nb(fs, data = d, control = tight)
  glm_rows(name, "negbin fourier 2", nbs)
  put_extra(name, "negbin fourier 2", "theta", nbs$theta)
  glm_rows(name, "negbin fourier 2 newey-west lag 2", nbs,
           NeweyWest(nbs, lag = 2, prewhite = FALSE, adjust = TRUE))
}

{
  d0 <- series[["b1"]]
  d <- base_cols(d0, d0$start[1])
  f <- cbind(y, trials - y) ~ t + post + tsince
  b <- glm(f, family = binomial, data = d, control = tight)
  glm_rows("b1", "binomial", b)
  glm_rows("b1", "binomial newey-west lag 2", b, NeweyWest(b, lag = 2, prewhite = FALSE, adjust = TRUE))
  qb <- glm(f, family = quasibinomial, data = d, control = tight)
  glm_rows("b1", "quasibinomial", qb)
  put_extra("b1", "quasibinomial", "dispersion", summary(qb)$dispersion)
}

out <- do.call(rbind, lapply(series, function(d) {
  for (col in c("exposure", "trials")) if (is.null(d[[col]])) d[[col]] <- NA
  d$date <- format(d$date, "%Y-%m-%d")
  d[, c("series", "t", "date", "y", "exposure", "trials", "start", "end", "exclude", "control_of")]
}))
write.csv(out, file.path(outdir, "its_series.csv"), row.names = FALSE, na = "")
ref <- do.call(rbind, rows)
ref$R <- R.version.string
ref$packages <- sprintf("nlme %s; sandwich %s; MASS %s", packageVersion("nlme"), packageVersion("sandwich"),
                        packageVersion("MASS"))
write.csv(ref, file.path(outdir, "its_reference.csv"), row.names = FALSE, na = "")
cat("wrote", nrow(out), "series rows and", nrow(ref), "reference rows to", outdir, "\n")
