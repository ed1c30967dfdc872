"""Put a self-check quiz at the end of every chapter, just before its exercises.

    python scripts/add_self_checks.py            # insert or refresh the quizzes in every chapter
    python scripts/add_self_checks.py --check    # write nothing; exit 1 if a chapter is out of date
    python scripts/add_self_checks.py --book DIR # work on the notebooks in DIR instead of book/

:data:`QUESTIONS` holds the questions, chapter by chapter (3 to 5 each, one idea per
question, an explanation for every option). For each chapter the script puts two cells
just before the markdown cell that holds the ``## Exercises`` heading:

* a markdown cell (id ``self-check-md``): the heading ``## Self-check`` and one line;
* a code cell (id ``self-check``, tag ``remove-input``, so the site shows only the quiz)
  that calls :func:`cubit_lite.self_check.self_check` with the questions written out,
  so that a reader of the notebook (in Colab, say) has them in front of them.

It is idempotent: cells with those ids are replaced where they are and moved next to the
exercises when they are elsewhere; a second run changes nothing. Outputs stay empty and
no other cell is touched. Exit status: 0 when done (or, with ``--check``, when every
chapter is up to date), 1 when ``--check`` finds a chapter out of date, 2 when a
chapter is missing or has no ``## Exercises`` heading.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN_ID = "self-check-md"
CODE_ID = "self-check"
INTRO = (
    "## Self-check\n\n"
    "A few questions on the chapter's main ideas: choose an answer to see whether it is right "
    "and why, or open *Show answer*."
)

# Each question: prompt, options, index of the correct option (from 0), one explanation per option.
# Written here with the correct option where it is easiest to write (often first); the
# notebook shows them in the order :func:`shown` gives, so the answer's place varies.
Q = dict

QUESTIONS: dict[str, list[dict]] = {
    "01_nadaraya_watson.ipynb": [
        Q(prompt="You double the bandwidth h of a Nadaraya–Watson smoother. Roughly, what happens to "
                 "the bias and the variance of the estimate in the interior of the data?",
          options=["The bias grows (it scales like h²) and the variance falls (it scales like 1/(nh)).",
                   "Both grow: a wider window is less accurate in every way.",
                   "The bias falls and the variance grows.",
                   "Neither changes; only the curve's smoothness does."],
          answer=0,
          explanations=["Right: a wider window averages values from farther away (more bias) over more "
                        "samples (less variance); this is the bias–variance trade-off h controls.",
                        "No: averaging over more samples lowers the variance, which is why a wider window "
                        "can still be the better choice.",
                        "This is what happens when h shrinks, not when it grows.",
                        "The smoothness is exactly the bias–variance balance: a smoother curve has more "
                        "bias and less variance."]),
        Q(prompt="Why is the Nadaraya–Watson estimator a linear smoother?",
          options=["It fits a straight line in each window.",
                   "Its weights do not depend on the targets y, so all its predictions are W y for one "
                   "weight matrix W.",
                   "Its kernel is a linear function of the distance.",
                   "Its cost grows linearly with the number of samples."],
          answer=1,
          explanations=["That is local linear regression; NW fits a constant in each window.",
                        "Right: the weights come from the inputs alone, so the predictions are a linear "
                        "map of the targets, and W can be drawn (chapter 3 calls it an attention map).",
                        "No: the kernels are bumps such as the Gaussian; 'linear' refers to how the "
                        "predictions depend on the targets.",
                        "'Linear' is about the map from targets to predictions, not about the cost."]),
        Q(prompt="Near the edge of the data, NW's bias is of order h instead of h². Why?",
          options=["The window is one-sided there, so the weighted mean position of the samples is "
                   "not the query itself.",
                   "There are fewer samples near the edge.",
                   "The weights no longer sum to one near the edge.",
                   "The bandwidth is automatically smaller near the edge."],
          answer=0,
          explanations=["Right: all the samples lie on one side, the weights' first moment is not zero, "
                        "and the estimate is pulled towards the values on that side.",
                        "Fewer samples mean more variance, not a different order of bias.",
                        "NW's weights always sum to one, at the edge too.",
                        "The bandwidth is the same everywhere; only the window is cut off."]),
        Q(prompt="Leave-one-out cross-validation of NW needs only one fit per bandwidth. Why?",
          options=["Removing sample i only renormalises the other weights, so "
                   "yᵢ − ŷ₋ᵢ(xᵢ) = (yᵢ − ŷᵢ)/(1 − wᵢᵢ).",
                   "The leave-one-out error equals the training error.",
                   "Sample i has weight zero in its own prediction anyway.",
                   "It is an approximation that is good for large n."],
          answer=0,
          explanations=["Right: the identity is exact, so every held-out error comes from the full fit "
                        "and the diagonal of W.",
                        "No: the training error rewards small h (each sample predicts itself); the "
                        "division by 1 − wᵢᵢ removes that advantage.",
                        "No: wᵢᵢ is usually the largest weight of row i, since the distance is zero.",
                        "The identity is exact for every n, not an approximation."]),
        Q(prompt="With a compact kernel (Epanechnikov or box), no sample lies within h of a query "
                 "point. What does the estimate do there?",
          options=["It is undefined (0/0): the library raises an error, or returns NaN with "
                   "on_empty=\"nan\".",
                   "It returns 0.",
                   "It returns the value of the nearest sample.",
                   "It returns the mean of all the targets."],
          answer=0,
          explanations=["Right: every weight is zero, and so is their sum.",
                        "There is nothing to average, so no value, 0 included, is the estimate.",
                        "That would be nearest-neighbour regression, a different estimator.",
                        "A Gaussian kernel behaves like that far from the data (chapter 3), a compact "
                        "one does not."]),
    ],
    "02_kernel_ridge.ipynb": [
        Q(prompt="What does the representer theorem say about the kernel ridge regression fit?",
          options=["It is a combination Σ_j α_j k(x, x_j) of kernels centred on the training inputs, "
                   "so solving an n × n system is enough.",
                   "It passes through every training point.",
                   "It is the same as the Nadaraya–Watson estimate with the same kernel.",
                   "It needs the feature map φ written out explicitly."],
          answer=0,
          explanations=["Right: the minimiser over the whole function space lies in the span of "
                        "k(·, x_j), with α = (K + λI)⁻¹ y.",
                        "Only as λ → 0; with λ > 0 the fit trades accuracy for a smaller norm.",
                        "No: KRR's weights come from a linear system and can be negative; NW's are "
                        "normalised kernel values.",
                        "The point of the kernel trick is that only kernel values k(x, x') are needed."]),
        Q(prompt="As the ridge λ grows very large, where does the KRR fit go?",
          options=["Towards zero, because the model has no intercept.",
                   "Towards the mean of the targets.",
                   "Through every data point.",
                   "Towards the Nadaraya–Watson curve."],
          answer=0,
          explanations=["Right: a large λ penalises the norm of f, and the function of smallest norm "
                        "is f = 0.",
                        "That would need an unpenalised intercept, which this KRR does not have.",
                        "That is the limit λ → 0, interpolation.",
                        "No: NW does not shrink towards zero at all; large-λ KRR does."]),
        Q(prompt="How do KRR's equivalent-kernel weights ℓ(x) differ from NW's weights?",
          options=["They can be negative and need not sum to one.",
                   "They are non-negative but need not sum to one.",
                   "They are identical for the Gaussian kernel.",
                   "They depend on the targets y."],
          answer=0,
          explanations=["Right: ℓ(x)ᵀ = k(x)ᵀ(K + λI)⁻¹ has negative side lobes, unlike the "
                        "non-negative, sum-to-one NW weights that softmax attention computes.",
                        "The side lobes of the equivalent kernel are negative.",
                        "They differ even for the Gaussian kernel: one is normalised, the other "
                        "comes from a matrix inverse.",
                        "KRR is a linear smoother: ℓ(x) depends on the inputs only."]),
        Q(prompt="KRR's prediction is the posterior mean of which model?",
          options=["A zero-mean Gaussian process with covariance k and noise variance λ.",
                   "A Gaussian process whose mean is the average of the targets.",
                   "A Gaussian process with noise variance 1/λ.",
                   "Linear regression on x with a flat prior."],
          answer=0,
          explanations=["Right: the ridge plays the role of the noise variance, and the zero prior "
                        "mean is why large λ shrinks the fit to zero.",
                        "The prior mean is zero; that is why KRR has no intercept.",
                        "More ridge means more assumed noise: the noise variance is λ itself.",
                        "The covariance is the kernel k, not a linear model in x."]),
    ],
    "03_attention_is_nw.ipynb": [
        Q(prompt="In the regression reading of a causal attention head, what is token i's training set?",
          options=["The pairs (k_j, v_j) for j ≤ i: keys are inputs, values are targets.",
                   "The pairs (q_j, v_j) for every j.",
                   "The pairs (k_j, v_j) for every token of the sequence.",
                   "The single pair (q_i, v_i)."],
          answer=0,
          explanations=["Right: the query q_i is where it predicts, and the causal mask lets it use "
                        "only the pairs seen so far, its own included.",
                        "Queries are where predictions are made, not training inputs.",
                        "Without the mask token i could see the future and simply copy the next token.",
                        "The training set grows by one pair per token; it is never a single pair "
                        "(except for token 1, which has its own pair (k_1, v_1))."]),
        Q(prompt="With ℓ2-normalised queries and keys, softmax attention with temperature τ is "
                 "Gaussian Nadaraya–Watson with which bandwidth?",
          options=["h = √τ", "h = τ", "h = 1/τ", "h = τ²"],
          answer=0,
          explanations=["Right: exp(q·k/τ) = e^{1/τ} exp(−‖q − k‖²/(2τ)) for unit vectors, a Gaussian "
                        "kernel with h² = τ.",
                        "The Gaussian kernel has h² in the denominator, and here that is τ.",
                        "A larger τ flattens the weights, so it widens the window: h grows with τ.",
                        "Matching exp(−‖q − k‖²/(2τ)) with exp(−‖q − k‖²/(2h²)) gives h² = τ."]),
        Q(prompt="Why is the first token's output always its own value, o_1 = v_1?",
          options=["The causal mask leaves it a single key, its own, whose weight must be 1.",
                   "Its query always matches its own key best.",
                   "The temperature makes the first row sharp.",
                   "The position embedding of token 1 is special."],
          answer=0,
          explanations=["Right: one allowed entry in a row that sums to one has weight exactly 1, "
                        "whatever the kernel or temperature.",
                        "Matching does not matter: with one candidate, it gets all the weight.",
                        "A row with one entry is 1 at every temperature.",
                        "Positions play no part; the mask alone decides it."]),
        Q(prompt="What can a single softmax attention head never do, whatever its queries, keys and "
                 "values?",
          options=["Output a vector outside the convex hull of the past values, for example subtract "
                   "one value from another.",
                   "Put almost all its weight on one earlier token.",
                   "Average all past tokens equally.",
                   "Predict the next character from the previous one."],
          answer=0,
          explanations=["Right: its weights are non-negative and sum to one, so o_i is a convex "
                        "combination of past values. (A layer of several heads with an output "
                        "projection can combine heads with negative signs; one head cannot.)",
                        "A small temperature does exactly that: nearest-key attention.",
                        "A large temperature does that: rows of A tend to 1/i.",
                        "The chapter's bigram head does it, with the previous character as key."]),
        Q(prompt="As the temperature τ grows very large, what does each row of the causal attention "
                 "map become?",
          options=["The uniform average of the past: A_ij ≈ 1/i for j ≤ i.",
                   "The identity: each token attends to itself.",
                   "All weight on the best-matching key.",
                   "All zeros."],
          answer=0,
          explanations=["Right: q·k/τ → 0 for every key, so every allowed key gets the same weight; "
                        "the bandwidth h = √τ is wider than all the data.",
                        "That needs a tiny τ and a query that matches only its own key.",
                        "That is the small-τ limit.",
                        "Each row is a softmax and always sums to one."]),
    ],
    "04_causal_krr.ipynb": [
        Q(prompt="With a Gaussian kernel, why can exact causal (prefix) KRR not reuse its past work "
                 "the way attention reuses its cached keys and values?",
          options=["A new pair changes the coefficients of all the old pairs, because every step "
                   "solves a new t × t system; and the Gaussian kernel has no finite feature map "
                   "that could summarise the past in a fixed-size state.",
                   "Because the Gram matrix K + λI is not invertible.",
                   "Because KRR's prediction at step t does not depend on the old pairs.",
                   "It can: for every kernel a d × d state updated token by token is enough."],
          answer=0,
          explanations=["Right: the coefficients α⁽ᵗ⁾ = (K + λI)⁻¹ y of the first t pairs change at every "
                        "step; even organised around one Cholesky factor, the whole stream costs O(T³).",
                        "For λ > 0 it is positive definite, hence invertible; the cost is the problem.",
                        "It depends on every pair seen so far, through the solve.",
                        "Only kernels with a finite feature map have such a state (the linear kernel: "
                        "a d × d matrix, as in linear attention); the Gaussian kernel has none."]),
        Q(prompt="Exact causal ridge regression with a finite feature map φ(x) in ℝᵈ (for example the "
                 "linear kernel x·x'): what must be kept from token to token?",
          options=["(ΦᵀΦ + λI)⁻¹ and ΦᵀY: d² + dp numbers, updated by Sherman–Morrison, however "
                   "long the stream.",
                   "Every past pair: no kernel allows a fixed-size state.",
                   "One number per token.",
                   "A t × t matrix that grows with the stream."],
          answer=0,
          explanations=["Right: each token updates the state in O(d² + dp), the family of linear "
                        "attention and the mesa layer.",
                        "That is true of the Gaussian kernel, not of kernels with a finite feature map.",
                        "A d-dimensional regression needs at least the d × d statistics of the features.",
                        "The dual (t × t) form is one way to compute it, but the primal state does "
                        "not grow."]),
        Q(prompt="What does Cubit's surrogate solve instead of a new symmetric t × t system at every "
                 "step?",
          options=["One lower-triangular system (P + λI) u = y, row t holding NW weights of x_t "
                   "against the past, solved by forward substitution.",
                   "The same t × t systems, solved exactly but faster.",
                   "One symmetric T × T system for the whole sequence.",
                   "Nothing: it uses the NW weights directly."],
          answer=0,
          explanations=["Right: row t involves only u₁, …, uₜ, so each pseudo-target is found once "
                        "and never changes; P is not a symmetric Gram matrix, so this is a different "
                        "estimator from exact causal KRR.",
                        "The surrogate is not exact causal KRR: on 1-D streams it behaved like a "
                        "hybrid of NW and KRR.",
                        "A symmetric system would couple past and future tokens; the surrogate's is "
                        "triangular.",
                        "That is causal NW; the surrogate first turns the targets into pseudo-targets u."]),
        Q(prompt="Cubit normalises the references on the key side only, ℓᵢⱼ = rᵢ · g rⱼ/‖rⱼ‖. "
                 "What does that buy?",
          options=["The diagonal logit is the largest of its row (Cauchy–Schwarz), so Pᵢᵢ ≥ 1/i "
                   "and Pᵢⱼ ≤ Pᵢᵢ: pivots that cannot underflow.",
                   "It is what makes P + λI invertible; without it P could be singular.",
                   "It makes P symmetric, like a Gram matrix.",
                   "It bounds the size of (P + λI)⁻¹."],
          answer=0,
          explanations=["Right: ℓᵢⱼ ≤ g‖rᵢ‖ = ℓᵢᵢ bounds the diagonal from below; without the "
                        "normalisation the pivots can underflow.",
                        "Every causal row softmax is lower triangular with a positive diagonal, so "
                        "P + λI is invertible anyway; the normalisation bounds the pivots.",
                        "P stays lower triangular; normalising one side is not a symmetry.",
                        "It bounds the pivots, not the inverse, whose norm can still grow with T."]),
        Q(prompt="Forward substitution divides by Pₜₜ + λ. What does the ridge λ bound?",
          options=["Each pivot step, 1/(Pₜₜ + λ) ≤ 1/λ; the norm of (P + λI)⁻¹ has a bound "
                   "independent of T for λ > 1, and at small λ it can grow fast with T.",
                   "The norm of (P + λI)⁻¹, by 1/λ, for every length T.",
                   "Nothing: λ is needed only to make P + λI invertible.",
                   "The number of negative entries of the inverse."],
          answer=0,
          explanations=["Right: earlier pseudo-targets re-enter every later row and their errors can "
                        "compound; only a large ridge (a Neumann series) bounds the whole inverse.",
                        "It bounds one entry per row, the diagonal one, not the norm: at small λ the "
                        "norm can grow fast with T.",
                        "P + λI is invertible for every λ ≥ 0, since its diagonal is positive.",
                        "λ shrinks the inverse's entries but does not bound how many are negative."]),
    ],
    "05_cubit_mixer.ipynb": [
        Q(prompt="One Cubit head computes O = A (P + λI)⁻¹ S V. Which choice turns it into plain "
                 "softmax attention?",
          options=["P = I, λ = 0 and S = I.",
                   "λ very large.",
                   "A = I.",
                   "S = 0."],
          answer=0,
          explanations=["Right: then the solve does nothing and O = A V.",
                        "Then (P + λI)⁻¹ ≈ I/λ and the output shrinks towards zero.",
                        "Then there is no read-out: each token outputs its own pseudo-target.",
                        "Then every value is scaled to zero and so is the output."]),
        Q(prompt="What does the Limited-Range Rescale S = diag(sᵢ) do?",
          options=["It multiplies each token's value by a learned sᵢ between 0.5 and 2: a bounded "
                   "write strength.",
                   "It rescales the attention logits, like a temperature.",
                   "It normalises the references.",
                   "It clips the pseudo-targets after the solve."],
          answer=0,
          explanations=["Right: sᵢ = a + (b − a) σ(xᵢ · w + c) with a = 0.5 and b = 2, applied before "
                        "the solve.",
                        "The logits are untouched; S scales the values.",
                        "That is the one-sided normalisation of the reference embedding.",
                        "S acts on the right-hand side, before the solve, not on its result."]),
        Q(prompt="Read as a DeltaFormer, what does each Cubit token write into its memory?",
          options=["Its (rescaled) value minus βᵢ times what a softmax over the past already "
                   "predicts, with βᵢ = (1 − Pᵢᵢ)/(Pᵢᵢ + λ).",
                   "Its value unchanged, like attention.",
                   "The difference between its value and the previous token's value.",
                   "Only its key, never its value."],
          answer=0,
          explanations=["Right: a token unlike its past (Pᵢᵢ ≈ 1) has βᵢ ≈ 0 and writes its value; "
                        "one that resembles the past writes mostly what the past does not predict.",
                        "Only when Pᵢᵢ = 1, so βᵢ = 0, as for the first token.",
                        "The subtraction is a softmax-weighted prediction from all earlier tokens, not "
                        "just the previous one.",
                        "The pseudo-targets, built from the values, are what the read-out uses."]),
        Q(prompt="Why can Cubit generate text one token at a time with a cache, at O(t·d) per token?",
          options=["Earlier pseudo-targets uⱼ never change, so a step needs only the cached keys, "
                   "references and pseudo-targets.",
                   "Because P is symmetric.",
                   "It cannot: each new token needs the whole O(T²d) forward pass again.",
                   "Because the cache is a fixed-size d × d state."],
          answer=0,
          explanations=["Right: row t of the triangular system gives uₜ from the past uⱼ alone, and "
                        "the step reproduces the full forward pass.",
                        "P is lower triangular, and that, not symmetry, is what makes the cache work.",
                        "Forward substitution needs only the past, so no earlier work is redone.",
                        "Cubit's kernel has no finite feature map: like attention's, its cache grows "
                        "with t, three vectors per token."]),
        Q(prompt="On a real sentence, (P + λI)⁻¹ has negative entries, the largest at repeated tokens; "
                 "they fade as λ grows. What do they do?",
          options=["They subtract earlier copies from the new token's pseudo-target, which one "
                   "softmax head, with non-negative weights, cannot; a large λ pushes the inverse "
                   "towards I/λ, which subtracts less.",
                   "They are rounding errors of the solve.",
                   "They show that P + λI is nearly singular for that sentence.",
                   "Nothing: the attention read-out removes the signs again."],
          answer=0,
          explanations=["Right: this is the delta rule at work, and λ sets how strongly it acts.",
                        "They are entries of the exact inverse, and they sit where the repeated tokens "
                        "are: a pattern, not rounding.",
                        "P + λI is lower triangular with a positive diagonal: always invertible.",
                        "A mixes the pseudo-targets with non-negative weights; the subtraction has "
                        "already happened in them."]),
    ],
    "06_library_tour.ipynb": [
        Q(prompt="In cubit_lite, which functions check their inputs?",
          options=["The public ones, which raise a ValueError saying what is allowed; the private _ "
                   "functions trust their inputs, and the layers call those.",
                   "Every function, private ones included.",
                   "None, for speed.",
                   "Only the nn.Module layers."],
          answer=0,
          explanations=["Right: the checks sit at the boundary a reader calls; inside, they would "
                        "only cost time.",
                        "The private functions skip the checks on purpose: their callers have "
                        "already made them.",
                        "The public functions do check, and the tests hold them to their error "
                        "messages.",
                        "The layers call the private functions, which trust their inputs."]),
        Q(prompt="Under bf16 autocast on a GPU, in what precision does Cubit's triangular solve run?",
          options=["float32 (float64 for float64 inputs).",
                   "bf16, like the rest of the model.",
                   "float16.",
                   "Always float64."],
          answer=0,
          explanations=["Right: that is the library's precision rule, because a triangular solve "
                        "accumulates rounding errors row after row.",
                        "A solve in bf16 would lose too much accuracy; the rule keeps it in float32.",
                        "float16 has even fewer exponent bits than bf16 and is not used for the solve.",
                        "float64 is used only when the inputs are float64."]),
        Q(prompt="Why do Cubit and Cubit-NoLRR have about a quarter more parameters per mixer layer "
                 "than attention?",
          options=["The reference projection: a fourth projection beside the queries, keys and "
                   "values (attention has four, with the output projection).",
                   "The Limited-Range Rescale.",
                   "The ridge λ.",
                   "The decoding cache."],
          answer=0,
          explanations=["Right: one more matrix of the same size as the other four; Cubit-Share "
                        "uses the keys as references and so adds almost nothing.",
                        "LRR is one small Linear(C, heads) layer; Cubit-NoLRR, without it, has the same "
                        "extra quarter.",
                        "λ is fixed by default, and even a learned λ is one number per head.",
                        "A cache holds activations while decoding, not parameters."]),
        Q(prompt="The library's mixers are a reference path. What does that mean?",
          options=["They are written to be read and tested rather than to be fast; the solves that "
                   "never store P are built and measured apart, in the appendix on making Cubit fast.",
                   "They approximate the paper's Cubit to save time.",
                   "They run only on a CPU.",
                   "They are for reading only and cannot be trained."],
          answer=0,
          explanations=["Right: the dense path materialises T × T matrices, which is clear and easy "
                        "to check, and it is the yardstick the fast solves are tested against.",
                        "They compute the mixer exactly (to rounding); being clear is their point, "
                        "not being approximate.",
                        "They are PyTorch code and run on a GPU too.",
                        "Chapter 7 trains its models with them."]),
    ],
    "07_training_a_char_lm.ipynb": [
        Q(prompt="How is the validation text chosen, and why that way?",
          options=["The last 10% of the corpus, one contiguous block the model never sees in training.",
                   "10% of the characters, drawn at random.",
                   "New random windows from the whole corpus at each evaluation.",
                   "The first 10% of the corpus, shuffled."],
          answer=0,
          explanations=["Right: a contiguous held-out block cannot leak its neighbours into training, "
                        "and fixed validation batches make evaluations comparable.",
                        "Scattered characters would sit inside training windows: the model would have "
                        "seen their context.",
                        "Windows from the training text would measure memorisation, and changing them "
                        "would add noise to every comparison.",
                        "Shuffling characters destroys the text the model is supposed to predict."]),
        Q(prompt="In the main comparison, what differs between the models?",
          options=["Only the token mixer; the decoder, embeddings, data and training loop are the same.",
                   "Their widths, set to equalise parameter counts.",
                   "The number of layers.",
                   "The learning-rate schedule, tuned per mixer."],
          answer=0,
          explanations=["Right: holding everything else fixed is what lets a difference be put down "
                        "to the mixer.",
                        "The widths are equal; the parameter counts differ a little, which is why "
                        "Cubit-Share is in the comparison.",
                        "Every model has the same depth.",
                        "All mixers share one schedule and peak rate, which is itself a choice the "
                        "chapter questions."]),
        Q(prompt="Cubit-Share, which uses its keys as references and so adds almost no parameters, "
                 "did as well as Cubit. What does that show?",
          options=["Cubit's gain over the learned-position Transformer is not due to the reference "
                   "projection's extra parameters.",
                   "The references do nothing at all.",
                   "Cubit-Share is always the better choice.",
                   "The Transformer needs more parameters to be fair."],
          answer=0,
          explanations=["Right: the ablation removes the extra parameters and keeps the gain.",
                        "Cubit-Share still has a P built from its keys; it shows a separate reference "
                        "projection is not needed here, not that P is useless.",
                        "Matching Cubit in this setting is not a general ranking.",
                        "The ablation shows the gain does not come from extra parameters, so adding "
                        "parameters to the Transformer is not the answer."]),
        Q(prompt="Cubit beat the learned-position Transformer with every seed. Why is that not yet "
                 "evidence that Cubit beats Transformers?",
          options=["That baseline was not the Transformer's best: with rotary positions it beat every "
                   "learned-position model, and a higher learning rate alone gained about as much as "
                   "the gap.",
                   "Three seeds cannot show anything.",
                   "The validation text leaked into training.",
                   "Cubit has more parameters, and that explains the gap."],
          answer=0,
          explanations=["Right: a comparison is as good as its weakest arm, so both sides need their "
                        "best positions and learning rate.",
                        "Every seed agreed and the 95% intervals were below zero; the problem is the "
                        "baseline, not the number of seeds.",
                        "The validation block is held out; nothing leaked.",
                        "Cubit-Share matches Cubit with almost no extra parameters."]),
        Q(prompt="Cubit's advantage was measured at an equal number of training steps. Why might it "
                 "not survive an equal GPU-time budget?",
          options=["The reference Cubit runs at a lower throughput, so in the same time the "
                   "Transformer takes more steps.",
                   "Cubit's loss rises again after a fixed time.",
                   "GPU time does not affect language-model loss.",
                   "Cubit needs a smaller batch."],
          answer=0,
          explanations=["Right: per-step and per-second comparisons can disagree; a faster "
                        "implementation would shift the balance towards Cubit.",
                        "Nothing of the kind was seen; the issue is how many steps fit in the budget.",
                        "More steps in the same time lower the loss, so time matters.",
                        "Both models use the same batches."]),
    ],
    "08_context_length.ipynb": [
        Q(prompt="Why was the context-length test pre-registered, its plan committed before the runs?",
          options=["So that the endpoint, the analysis and the decision rule could not be chosen after "
                   "seeing the results.",
                   "To save GPU time.",
                   "So that the seeds would be random.",
                   "Because the paper's authors asked for it."],
          answer=0,
          explanations=["Right: fixing them in advance removes the freedom to pick whichever analysis "
                        "looks best.",
                        "It costs the same runs; it changes what the runs can prove.",
                        "The seeds are fixed and paired; pre-registration is about the analysis.",
                        "It is a safeguard of our own reading, not a requirement from elsewhere."]),
        Q(prompt="Why are Cubit and the Transformer compared seed by seed (paired seeds)?",
          options=["A seed fixes the batches and dropout for both models alike, so the difference "
                   "of a pair cancels what the seed does to both.",
                   "Because pairing makes the t-interval wider and so safer.",
                   "So that each model sees different data.",
                   "Pairing is needed only when the models have the same number of parameters."],
          answer=0,
          explanations=["Right: the paired differences vary less than the losses themselves, so a "
                        "few seeds give a sharper interval.",
                        "Pairing usually makes the interval narrower, by removing shared noise.",
                        "The point is the opposite: the same batches for both models.",
                        "Pairing is about shared randomness, not about parameter counts."]),
        Q(prompt="With Δ(T) = Cubit − Transformer final validation loss, the endpoint is "
                 "I = Δ(4096) − Δ(256). What result would support 'the gap grows with context length'?",
          options=["A 95% interval for I that lies entirely below zero.",
                   "Δ(4096) below zero.",
                   "I above zero.",
                   "Cubit's loss lower at 4096 than at 256."],
          answer=0,
          explanations=["Right: Cubit's lead (a negative Δ) must be larger at 4096 than at 256, "
                        "beyond the seed-to-seed noise.",
                        "Cubit ahead at one length says nothing about how the gap changes with length.",
                        "I > 0 would mean the gap shrinks, or turns in the Transformer's favour, with "
                        "length.",
                        "Both models may improve with longer windows; the claim is about the "
                        "difference between them."]),
        Q(prompt="How did the chapter find that the extra gap at 4096 is not a long-context effect?",
          options=["Compared on the same positions, the gap was about the same at positions 1–256, "
                   "where the long context cannot help, as further along the window.",
                   "The gap vanished at the end of training.",
                   "The Transformer with a learned position table was worse at 4096.",
                   "Cubit-Share had no gap."],
          answer=0,
          explanations=["Right: an effect of using long context would sit at late positions, where "
                        "there is long context to use.",
                        "The question is where in the window the gap sits, not when in training.",
                        "That was the earlier runs' confound, removed by rotary positions in the test.",
                        "Cubit-Share was at least as good as Cubit here."]),
    ],
    "09_trained_regressors.ipynb": [
        Q(prompt="A prompt's function is drawn from a Gaussian process with lengthscale ℓ and noise level σ. "
                 "Which predictor of y_t from the pairs before t has the least expected squared error?",
          options=["Prefix kernel ridge regression with bandwidth h = ℓ and ridge λ = σ²: the GP posterior mean.",
                   "Nadaraya–Watson at its leave-one-out bandwidth.",
                   "Kernel ridge regression with the ridge λ = 0, so that it fits the pairs exactly.",
                   "The average of all the targets seen so far."],
          answer=0,
          explanations=["Right: with the prior's own kernel and the noise variance as ridge, KRR is the "
                        "posterior mean, the Bayes-optimal predictor (chapter 2's Gaussian-process reading).",
                        "NW is a local average: it cannot shrink towards the prior mean when data are few, and "
                        "the chapter measures it far from the best predictor.",
                        "With λ = 0 KRR interpolates the noise; the right ridge is the noise variance σ².",
                        "The plain average ignores where x_t lies; it is NW with an infinite bandwidth."]),
        Q(prompt="Why does the chapter score predictors by D, the mean of (ŷ_t − m_t)² with m_t the GP mean, "
                 "rather than by their squared error against the targets?",
          options=["For a predictor that uses only the past, the expected squared error is the Bayes error plus "
                   "E(ŷ_t − m_t)², so D is the excess error, measured with far less noise.",
                   "Because the targets y_t are not known to the evaluation.",
                   "Because D is always smaller than the squared error, which flatters the models.",
                   "Because the GP mean is what the models were trained to predict."],
          answer=0,
          explanations=["Right: y_t − m_t is uncorrelated with anything computed from the past, so the cross "
                        "term vanishes and the unavoidable noise drops out of D.",
                        "The targets are known; the chapter computes the excess squared error from them too.",
                        "D is smaller, but the point is that it measures the same excess with less noise, "
                        "the same for every predictor.",
                        "The models were trained on the noisy targets y_t; they were never shown m_t."]),
        Q(prompt="The pre-registered study's primary interval for D(Cubit) − D(Transformer) contains zero. "
                 "What does the plan's decision rule conclude?",
          options=["The experiment cannot tell Cubit and attention apart: a small difference in either "
                   "direction remains possible.",
                   "Cubit and the Transformer are equally good at in-context regression.",
                   "Cubit tracks the GP mean more closely, since the mean difference is negative.",
                   "The experiment failed and its results should be discarded."],
          answer=0,
          explanations=["Right: with three seeds the interval is wide; it rules out large differences, not "
                        "small ones.",
                        "Absence of a detected difference is not evidence of equality; a small effect could hide "
                        "inside the interval.",
                        "The sign of the mean alone decides nothing; the rule needs the whole interval below zero.",
                        "A result that cannot separate the arms is still a result, and the plan said in advance "
                        "how to report it."]),
        Q(prompt="What did reading the heads of the seed-0 models show about their middle layers?",
          options=["Several heads are close to Nadaraya–Watson over the pairs, with a small bandwidth that "
                   "mostly does not follow the prompt's lengthscale.",
                   "Every head is exactly the GP's KRR weights for the prompt.",
                   "No head resembles Nadaraya–Watson in any layer.",
                   "Cubit's heads give large negative weights, like KRR's equivalent kernel, and the "
                   "Transformer's do not."],
          answer=0,
          explanations=["Right: training found kernel smoothers, but narrow, nearly fixed ones rather than the "
                        "adaptive regression that would be Bayes-optimal.",
                        "Their weights correlate with the GP's where they are local, but they are narrower and "
                        "almost never negative, so they are not KRR's weights.",
                        "The first and last layers are not NW-like, but heads of the second and third layers are.",
                        "Cubit's equivalent weights were mostly positive; its heads looked much like the "
                        "Transformer's."]),
        Q(prompt="In the regressor, token t carries (x_t, x_{t−1}, y_{t−1}, 1). Which pair does the weight "
                 "that the query token gives to token j (2 ≤ j ≤ t) fall on?",
          options=["The pair (x_{j−1}, y_{j−1}).",
                   "The pair (x_j, y_j).",
                   "No pair: weights on tokens cannot be read as weights on pairs.",
                   "The pair (x_t, y_t)."],
          answer=0,
          explanations=["Right: token j carries the previous example, so token 1 carries no pair and the query "
                        "token t carries pair t − 1.",
                        "y_j is not in token j (it would leak the target of position j); token j carries pair "
                        "j − 1.",
                        "In the first layer the mapping is exact, and that is how the chapter compares heads with "
                        "NW weights.",
                        "y_t is never visible at token t: it is what the model predicts there."]),
    ],
}


# --------------------------------------------------------------------------- #
# Writing the code cell
# --------------------------------------------------------------------------- #
def _quoted(text: str) -> str:
    """``text`` as a double-quoted Python string literal (JSON's escapes are Python's too)."""
    return json.dumps(text, ensure_ascii=False)


def _literal(text: str, indent: str, width: int = 92) -> str:
    """A Python string literal for ``text``, split into adjacent literals of at most ``width`` columns."""
    budget = max(30, width - len(indent) - 2)
    chunks = textwrap.wrap(text, budget, break_long_words=False, break_on_hyphens=False)
    if len(chunks) > 1 and " ".join(chunks) == text:
        pieces = [chunk + " " for chunk in chunks[:-1]] + [chunks[-1]]
        return "(\n" + "".join(f"{indent}    {_quoted(piece)}\n" for piece in pieces) + f"{indent})"
    return _quoted(text)


# Where the correct options go, question after question (modulo the number of options):
# every place used, none twice in a row.
PLACES = (1, 3, 0, 2, 3, 1, 2, 0)


def arranged(question: dict, place: int) -> dict:
    """``question`` with its correct option moved to index ``place`` (modulo the number of
    options); the other options keep their order."""
    options, answer, explanations = list(question["options"]), question["answer"], question["explanations"]
    place %= len(options)
    order = [i for i in range(len(options)) if i != answer]
    order.insert(place, answer)
    if not isinstance(explanations, str):
        explanations = [explanations[i] for i in order]
    return dict(prompt=question["prompt"], options=[options[i] for i in order], answer=place,
                explanations=explanations)


def shown(questions: list[dict]) -> list[dict]:
    """The questions as the notebook shows them: the correct options spread over the places.

    Deterministic (the same notebook every run): the pattern :data:`PLACES` starts at an
    offset taken from a hash of the first prompt, so chapters do not all start alike and
    "the answer is usually (a)" is no clue.
    """
    offset = hashlib.sha256(questions[0]["prompt"].encode("utf-8")).digest()[0]
    return [arranged(q, PLACES[(offset + i) % len(PLACES)]) for i, q in enumerate(questions)]


def cell_source(questions: list[dict]) -> str:
    """Readable Python that shows ``questions`` as a quiz (in the order of :func:`shown`)."""
    lines = ["from cubit_lite.self_check import Question, self_check", "", "self_check(["]
    for q in shown(questions):
        lines.append("    Question(")
        lines.append(f"        {_literal(q['prompt'], ' ' * 8)},")
        lines.append("        [")
        lines += [f"            {_literal(o, ' ' * 12)}," for o in q["options"]]
        lines.append("        ],")
        lines.append(f"        answer={q['answer']},")
        lines.append("        explanations=[")
        lines += [f"            {_literal(e, ' ' * 12)}," for e in q["explanations"]]
        lines.append("        ],")
        lines.append("    ),")
    lines.append("])")
    return "\n".join(lines)


def _cells(questions: list[dict]) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    markdown = nbformat.v4.new_markdown_cell(INTRO)
    markdown.id = MARKDOWN_ID
    code = nbformat.v4.new_code_cell(cell_source(questions))
    code.id = CODE_ID
    code.metadata["tags"] = ["remove-input"]
    return markdown, code


class NotReady(RuntimeError):
    """A chapter is missing or has no ``## Exercises`` heading."""


def updated(nb: nbformat.NotebookNode, questions: list[dict], name: str = "<notebook>") -> nbformat.NotebookNode:
    """A copy of ``nb`` with the two self-check cells just before its exercises (others untouched)."""
    nb = nbformat.from_dict(nb)
    old = {c.get("id"): c for c in nb.cells if c.get("id") in (MARKDOWN_ID, CODE_ID)}
    cells = [c for c in nb.cells if c.get("id") not in (MARKDOWN_ID, CODE_ID)]
    where = [i for i, c in enumerate(cells)
             if c.cell_type == "markdown" and re.search(r"^## Exercises\s*$", c.source, re.M)]
    if len(where) != 1:
        raise NotReady(f"{name}: expected one markdown cell with a '## Exercises' heading, found {len(where)}")
    markdown, code = _cells(questions)
    if CODE_ID in old:  # keep what the notebook already had beyond what we set (outputs stay empty)
        kept = old[CODE_ID]
        kept.source, kept.outputs, kept.execution_count = code.source, [], None
        kept.metadata["tags"] = sorted(set(kept.metadata.get("tags", [])) | {"remove-input"})
        code = kept
    if MARKDOWN_ID in old:
        old[MARKDOWN_ID].source = markdown.source
        markdown = old[MARKDOWN_ID]
    cells[where[0]:where[0]] = [markdown, code]
    nb.cells = cells
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a chapter is out of date")
    parser.add_argument("--book", type=Path, default=ROOT / "book", help="folder of the chapter notebooks")
    parser.add_argument("chapters", nargs="*", help="only these chapter files (default: every chapter)")
    args = parser.parse_args(argv)
    names = [Path(c).name for c in args.chapters] or list(QUESTIONS)
    unknown = [n for n in names if n not in QUESTIONS]
    if unknown:
        parser.error(f"no questions for {unknown}; chapters with questions: {list(QUESTIONS)}")
    stale, problems = [], []
    for name in names:
        path = args.book / name
        if not path.exists():
            problems.append(f"{path}: missing")
            continue
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        try:
            new = updated(nb, QUESTIONS[name], str(path))
        except NotReady as error:
            problems.append(str(error))
            continue
        new_text = nbformat.writes(new) + "\n"
        if new_text == text:
            print(f"up to date: {path}")
            continue
        stale.append(path)
        if args.check:
            print(f"out of date: {path}")
        else:
            nbformat.validate(new)
            path.write_text(new_text, encoding="utf-8")
            print(f"updated: {path}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 2
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
