"""The sampler registry: a sampler by name with its options, checked, and run as a generator of Steps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch

from explorer.core.schedules import NoiseSchedule
from explorer.limits import check_float, check_int
from explorer.sampling.corrector import DEFAULT_SNR, MAX_CORRECTOR_STEPS, predictor_corrector_steps
from explorer.sampling.gaussian import (
    DDPM_VARIANCES,
    Churn,
    Denoiser,
    Estimator,
    Step,
    ddim_steps,
    ddpm_steps,
    edm_steps,
    euler_maruyama_steps,
    euler_steps,
    heun_steps,
)
from explorer.sampling.multistep import dpm_solver_pp_steps, ipndm_steps, unipc_steps
from explorer.sampling.spacings import SPACINGS, Spacing, step_pairs, timesteps
from explorer.sampling.tuning import TUNED, check_tuned

MAX_CLIP = 1000.0  # largest x0_hat clipping bound
MAX_CHURN, MAX_SIGMA, NOISE_RANGE = 1000.0, 1e4, (0.5, 1.5)  # EDM's S_churn, S_tmin/S_tmax and S_noise bounds


StepFunction = Callable[..., Iterator[Step]]


@dataclass(frozen=True)
class SamplerSpec:
    """One sampler of the registry: its names, defaults and the function that runs it.
    `run(estimator, x_T, timesteps, generator, settings)` yields its Steps."""

    name: str
    label: str  # for pickers and tables
    short: str  # for panel captions
    spacing: Spacing  # its usual timesteps
    steps: int  # its usual step count in a comparison (0: all T)
    vp_only: bool  # written in the VP chain (VE and sub-VP map onto it), which rectified flow cannot start
    stochastic: bool  # draws noise on the way (DDIM does when eta > 0)
    run: StepFunction


SAMPLERS: dict[str, SamplerSpec] = {spec.name: spec for spec in [
    SamplerSpec("ddpm", "DDPM (ancestral)", "DDPM", Spacing.TRAILING, 0, True, True,
                lambda e, x, ts, g, st: ddpm_steps(e, x, ts, g, st.variance)),
    SamplerSpec("ddim", "DDIM", "DDIM", Spacing.TRAILING, 50, True, False,
                lambda e, x, ts, g, st: ddim_steps(e, x, ts, g, st.eta)),
    SamplerSpec("euler", "Euler (PF-ODE)", "Euler", Spacing.KARRAS, 50, False, False,
                lambda e, x, ts, g, st: euler_steps(e, x, ts)),
    SamplerSpec("heun", "Heun (PF-ODE, 2nd order)", "Heun", Spacing.KARRAS, 50, False, False,
                lambda e, x, ts, g, st: heun_steps(e, x, ts)),
    SamplerSpec("em", "Euler-Maruyama (reverse SDE)", "EM", Spacing.KARRAS, 50, False, True,
                lambda e, x, ts, g, st: euler_maruyama_steps(e, x, ts, g)),
    SamplerSpec("pc", "Predictor-corrector (reverse SDE + Langevin)", "PC", Spacing.KARRAS, 100, False, True,
                lambda e, x, ts, g, st: predictor_corrector_steps(e, x, ts, g, st.snr, st.corrector_steps)),
    SamplerSpec("edm", "EDM stochastic (Heun with churn)", "EDM", Spacing.KARRAS, 25, False, True,
                lambda e, x, ts, g, st: edm_steps(e, x, ts, g, Churn(st.churn, st.s_tmin, st.s_tmax, st.s_noise))),
    SamplerSpec("dpmpp2m", "DPM-Solver++(2M)", "DPM++2M", Spacing.LOGSNR, 15, False, False,
                lambda e, x, ts, g, st: dpm_solver_pp_steps(e, x, ts, order=2)),
    SamplerSpec("dpmpp3m", "DPM-Solver++(3M)", "DPM++3M", Spacing.LOGSNR, 10, False, False,
                lambda e, x, ts, g, st: dpm_solver_pp_steps(e, x, ts, order=3)),
    SamplerSpec("unipc", "UniPC (bh2, predictor-corrector)", "UniPC", Spacing.LOGSNR, 10, False, False,
                lambda e, x, ts, g, st: unipc_steps(e, x, ts)),
    SamplerSpec("ipndm", "iPNDM (4th-order multistep)", "iPNDM", Spacing.LOGSNR, 10, False, False,
                lambda e, x, ts, g, st: ipndm_steps(e, x, ts)),
]}  # fmt: skip


def sampler_spec(name: str) -> SamplerSpec:
    """The registry's entry for `name`, or a ValueError listing the choices."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose from {list(SAMPLERS)}")
    return SAMPLERS[name]


# views of the registry for the pickers and the command line
SAMPLER_LABELS = {name: spec.label for name, spec in SAMPLERS.items()}
DEFAULT_SPACING = {name: str(spec.spacing) for name, spec in SAMPLERS.items()}
VP_ONLY = tuple(name for name, spec in SAMPLERS.items() if spec.vp_only)


@dataclass(frozen=True)
class SamplerSettings:
    """A sampler by name and its options (each sampler reads the ones it uses)."""

    name: str = "ddpm"
    steps: int | None = None  # S, the number of timesteps visited; None: all T
    eta: float = 0.0  # DDIM: 0 deterministic, 1 DDPM-like
    spacing: str = "leading"  # which S timesteps
    variance: str = "beta_tilde"  # DDPM: sigma_t^2
    clip_x0: float | None = None
    churn: float = Churn.s_churn  # EDM: S_churn (0: Heun), applied where S_tmin <= sigma <= S_tmax
    s_tmin: float = Churn.s_tmin
    s_tmax: float = Churn.s_tmax
    s_noise: float = Churn.s_noise
    snr: float = DEFAULT_SNR  # predictor-corrector: the Langevin step's signal-to-noise ratio r
    corrector_steps: int = 1  # predictor-corrector: Langevin steps M after each predictor step
    tuned: tuple[tuple[int, ...], ...] = ()  # spacing "tuned": the model's tuned timesteps, one list per step count

    def validated(self, T: int) -> SamplerSettings:
        """These settings with every option checked against its bounds (ValueError says which)."""
        sampler_spec(self.name)
        if self.spacing == TUNED and not self.tuned:
            raise ValueError("the tuned spacing needs the model's tuned timesteps (`python -m explorer tune`)")
        if self.spacing not in (*SPACINGS, TUNED):
            raise ValueError(f"unknown spacing {self.spacing!r}; choose from {sorted(SPACINGS)} or {TUNED!r}")
        if self.variance not in DDPM_VARIANCES:
            raise ValueError(f"unknown DDPM variance {self.variance!r}; choose from {list(DDPM_VARIANCES)}")
        return replace(
            self,
            steps=None if self.steps is None else check_int("steps", self.steps, 1, T),
            eta=check_float("eta", self.eta, 0.0, 1.0),
            clip_x0=None if self.clip_x0 is None else check_float("x0 clipping bound", self.clip_x0, 1e-3, MAX_CLIP),
            churn=check_float("S_churn", self.churn, 0.0, MAX_CHURN),
            s_tmin=check_float("S_tmin", self.s_tmin, 0.0, MAX_SIGMA),
            s_tmax=check_float("S_tmax", self.s_tmax, check_float("S_tmin", self.s_tmin, 0.0, MAX_SIGMA), MAX_SIGMA),
            s_noise=check_float("S_noise", self.s_noise, *NOISE_RANGE),
            snr=check_float("corrector SNR", self.snr, 1e-3, 1.0),
            corrector_steps=check_int("corrector steps", self.corrector_steps, 0, MAX_CORRECTOR_STEPS),
            tuned=self._checked_tuned(T),
        )

    def _checked_tuned(self, T: int) -> tuple[tuple[int, ...], ...]:
        """The tuned lists, each checked, with the step count among theirs when the spacing is tuned."""
        tuned = tuple(tuple(check_tuned(seq, T)) for seq in self.tuned)
        if self.spacing == TUNED and self.steps is not None and self.steps not in self.tuned_steps():
            raise ValueError(self._no_tuned(self.steps))
        return tuned

    def resolved_steps(self, T: int) -> int:
        return T if self.steps is None else self.steps

    def tuned_steps(self) -> list[int]:
        """The step counts the tuned timesteps exist for."""
        return sorted(len(seq) for seq in self.tuned)

    def visited(self, schedule: NoiseSchedule) -> list[int]:
        """The descending timesteps this configuration visits: its spacing's, or its tuned list of that length."""
        S = self.resolved_steps(schedule.T)
        if self.spacing != TUNED:
            return timesteps(schedule.T, S, self.spacing, schedule)
        for seq in self.tuned:
            if len(seq) == S:
                return list(seq)
        raise ValueError(self._no_tuned(S))

    def _no_tuned(self, S: int) -> str:
        return (f"tuned timesteps exist for {', '.join(map(str, self.tuned_steps())) or 'no'} steps of "
                f"{sampler_spec(self.name).short} on this model, not for {S}")  # fmt: skip

    def nfe(self, schedule: NoiseSchedule) -> int:
        """Model evaluations a run will make: one per visited timestep, and for Heun a second at the
        next one, except on the step to the data and on a step from zero SNR (where Heun stays Euler;
        rectified flow's Heun integrates in t and takes the second call there too)."""
        S = self.resolved_steps(schedule.T)
        if self.name == "pc":
            return S + self.corrector_steps * (S - 1)
        if self.name not in ("heun", "edm"):
            return S
        seq = self.visited(schedule)
        in_t = schedule.kind == "flow" and self.name == "heun"  # Heun integrates a flow in t, where t = 1 is fine
        second = [t_prev >= 0 and (in_t or float(schedule.alpha_bar[t]) > 0) for _, t, t_prev in step_pairs(seq)]
        return S + sum(second)

    def caption(self) -> str:
        """A compact name for panel captions, e.g. 'DPM++2M 15 logsnr'."""
        steps = "T" if self.steps is None else self.steps
        text = f"{sampler_spec(self.name).short} {steps} {self.spacing}"
        return text + self._option()

    def _option(self) -> str:
        """The option that tells this configuration apart: DDIM's eta, EDM's S_churn, PC's r and M."""
        options = {"ddim": f" eta={self.eta:g}", "edm": f" churn={self.churn:g}",
                   "pc": f" r={self.snr:g} M={self.corrector_steps}"}  # fmt: skip
        return options.get(self.name, "")

    def label(self) -> str:
        """A short human name, e.g. 'DDIM S=50 trailing eta=0'."""
        name = sampler_spec(self.name).label.split(" (")[0]
        return f"{name} S={self.steps if self.steps is not None else 'T'} {self.spacing}" + self._option()


def reference_sampler(schedule: NoiseSchedule, variance: str = "beta_tilde") -> SamplerSettings:
    """The sampler a model's own T steps define: DDPM ancestral sampling, or Euler for rectified flow."""
    if schedule.kind == "flow":
        return SamplerSettings("euler", schedule.T, spacing="leading")
    return SamplerSettings("ddpm", variance=variance)


def fast_sampler(schedule: NoiseSchedule, steps: int, clip_x0: float | None = None) -> SamplerSettings:
    """A deterministic few-step sampler valid on every process: DDIM (eta 0), or Euler for rectified
    flow, over `steps` trailing timesteps (they start at t = T, see check_start)."""
    name = "euler" if schedule.kind == "flow" else "ddim"
    return SamplerSettings(name, steps, spacing="trailing", clip_x0=clip_x0)


PRIOR_ONLY_AT_T = ("ve", "flow")  # processes whose q_t equals the prior x_T is drawn from only at t = T


def starts_at_prior(schedule: NoiseSchedule, steps: int, spacing: str) -> bool:
    """Whether S = `steps` timesteps of `spacing` start where x_T, drawn from the prior, is q_t (see check_start)."""
    return schedule.kind not in PRIOR_ONLY_AT_T or timesteps(schedule.T, steps, spacing, schedule)[0] == schedule.T - 1


def check_start(schedule: NoiseSchedule, t_first: int, spacing: str) -> None:
    """x_T is drawn from the prior, the marginal at t = T - 1 (T in the paper's count). On the VP
    process q_t is already that prior well below T (alpha_bar ~ 1e-4 at 0.9 T for the linear betas),
    so leading and quadratic spacings may start lower; on VE (sigma_t is ~1/3 of sigma_max at 0.8 T)
    and rectified flow (x_t still holds (1 - t) x0) a start below T - 1 is a wrong x_T: refused."""
    if schedule.kind in PRIOR_ONLY_AT_T and t_first != schedule.T - 1:
        raise ValueError(f"the {spacing} spacing starts at t = {t_first + 1} of {schedule.T}, but x_T is drawn from "
                         f"the {schedule.kind} process's prior at t = {schedule.T}, far from q_t there: choose "
                         "trailing, linspace, karras or logsnr (all start at t = T)")  # fmt: skip


def sample_steps(
    settings: SamplerSettings,
    model: Denoiser,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    generator: torch.Generator,
    prediction: str = "eps",
) -> Iterator[Step]:
    """The named sampler's steps from x_T (the settings are checked first)."""
    settings = settings.validated(schedule.T)
    if schedule.kind == "flow" and sampler_spec(settings.name).vp_only:
        raise ValueError(f"{sampler_spec(settings.name).label} is written for the variance-preserving process; sample "
                         "a rectified-flow model with euler (which is what DDIM with eta = 0 becomes), heun, em, pc "
                         "or dpmpp2m")  # fmt: skip
    ts = settings.visited(schedule)
    check_start(schedule, ts[0], settings.spacing)
    estimator = Estimator(model, schedule, prediction, settings.clip_x0)
    return sampler_spec(settings.name).run(estimator, x_T, ts, generator, settings)
