# Reference fixtures for tests/test_meta.py: metafor::rma() and predict() on public data sets.
#
# Run from the project root:   Rscript tests/reference/meta_reference.R
# Writes, next to this script:
#   meta_inputs.csv   dataset, study, yi, vi  (the effect sizes fed to rma)
#   meta_results.csv  one row per dataset x method x test: estimate, se, ci, pi, tau2, I2, Q ...
# Data: metadat (dat.bcg, dat.hackshaw1998, dat.normand1999) plus two small hand-built sets
# (a homogeneous one where tau2 is estimated at zero, one where metafor's default REML Fisher
# scoring does not converge, and k = 2 / k = 1 subsets of dat.bcg).
# Tests read the CSVs; CI never runs R.

suppressMessages(library(metafor))

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
bcg_lab <- paste(dat.bcg$author, dat.bcg$year)
normand <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i,
                  m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)

sets <- list(
  bcg = data.frame(study = bcg_lab, yi = c(bcg$yi), vi = c(bcg$vi)),
  hackshaw1998 = data.frame(study = paste(dat.hackshaw1998$author, dat.hackshaw1998$year),
                            yi = dat.hackshaw1998$yi, vi = dat.hackshaw1998$vi),
  normand1999 = data.frame(study = as.character(dat.normand1999$source),
                           yi = c(normand$yi), vi = c(normand$vi)),
  homogeneous = data.frame(study = paste("Provider", LETTERS[1:5]),
                           yi = c(0.10, 0.12, 0.09, 0.11, 0.10),
                           vi = c(0.010, 0.020, 0.015, 0.030, 0.012)),
  # metafor's default Fisher scoring oscillates here and stops ("did not converge"); metafor's
  # help suggests control = list(stepadj = 0.5), which is what cocEval falls back to.
  reml_oscillates = data.frame(study = paste("Provider", 1:10),
                               yi = c(-0.2359, 0.0885, -0.2179, 0.0006, 0.0523, 0.2788, -0.2113,
                                      -0.0651, -0.3893, -0.0659),
                               vi = c(0.3192, 0.2191, 0.1770, 0.3489, 0.2270, 0.1051, 0.3950,
                                      0.3570, 0.2467, 0.2671)^2),
  bcg_k2 = data.frame(study = bcg_lab[1:2], yi = c(bcg$yi)[1:2], vi = c(bcg$vi)[1:2]),
  bcg_k1 = data.frame(study = bcg_lab[1], yi = c(bcg$yi)[1], vi = c(bcg$vi)[1])
)

inputs <- do.call(rbind, lapply(names(sets), function(n) cbind(dataset = n, sets[[n]])))
write.csv(inputs, file.path(outdir, "meta_inputs.csv"), row.names = FALSE)

rows <- list()
for (n in names(sets)) {
  d <- sets[[n]]
  for (method in c("DL", "REML")) {
    for (test in c("z", "knha")) {
      control <- "default"
      fit <- try(suppressWarnings(rma(yi, vi, data = d, method = method, test = test)), silent = TRUE)
      if (inherits(fit, "try-error")) {
        control <- "stepadj=0.5"
        fit <- suppressWarnings(rma(yi, vi, data = d, method = method, test = test,
                                    control = list(stepadj = 0.5)))
      }
      pr <- predict(fit)
      rows[[length(rows) + 1]] <- data.frame(
        dataset = n, method = method, test = test, control = control, k = fit$k,
        estimate = c(fit$beta), se = fit$se, ci_low = fit$ci.lb, ci_high = fit$ci.ub,
        pi_low = pr$pi.lb, pi_high = pr$pi.ub, tau2 = fit$tau2,
        i2 = fit$I2, h2 = fit$H2, q = fit$QE, q_pvalue = fit$QEp, pval = fit$pval,
        weight_first = weights(fit)[1]
      )
    }
  }
}
results <- do.call(rbind, rows)
write.csv(results, file.path(outdir, "meta_results.csv"), row.names = FALSE)
cat(sprintf("metafor %s, metadat %s, %s\n", packageVersion("metafor"),
            packageVersion("metadat"), R.version.string))
