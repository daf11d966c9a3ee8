: Nap_Et2 -- persistent Na+ current (Magistretti & Alonso 1999; mTau = 6 x NaTa_t form;
: Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 10.
:
:   ina = gNap_Et2bar * m^3 * h * (v - ena)
:
: mInf and hInf are Boltzmann curves (not alpha/(alpha+beta)); the alphas and
: betas only set the time constants, which are divided by the constant
: qt = 2.3^((34-21)/10). Order matters: mInf uses the un-bumped v; the guards
: v == -38, v == -17, v == -64.4 (each +1e-4 mV, exact equality) then act in
: that order on a local copy of v.

NEURON {
    SUFFIX Nap_Et2
    USEION na READ ena WRITE ina
    RANGE gNap_Et2bar, gNap_Et2, ina
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gNap_Et2bar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    gNap_Et2 (S/cm2)
    mInf
    mTau (ms)
    hInf
    hTau (ms)
}

STATE {
    m
    h
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    gNap_Et2 = gNap_Et2bar * m * m * m * h
    ina = gNap_Et2 * (v - ena)
}

DERIVATIVE states {
    rates(v)
    m' = (mInf - m) / mTau
    h' = (hInf - h) / hTau
}

INITIAL {
    rates(v)
    m = mInf
    h = hInf
}

: Rate formulas take v in mV and return 1/ms or ms (units not tracked here).
UNITSOFF
PROCEDURE rates(vm (mV)) {
    LOCAL qt, vv, mAlpha, mBeta, hAlpha, hBeta
    qt = 2.3^((34 - 21) / 10)
    vv = vm
    mInf = 1 / (1 + exp((vv - (-52.6)) / (-4.6)))
    if (vv == -38) {
        vv = vv + 0.0001
    }
    mAlpha = 0.182 * (vv - (-38)) / (1 - exp(-(vv - (-38)) / 6))
    mBeta = 0.124 * (-vv - 38) / (1 - exp(-(-vv - 38) / 6))
    mTau = 6 * (1 / (mAlpha + mBeta)) / qt
    if (vv == -17) {
        vv = vv + 0.0001
    }
    if (vv == -64.4) {
        vv = vv + 0.0001
    }
    hInf = 1 / (1 + exp((vv - (-48.8)) / 10))
    hAlpha = -2.88e-6 * (vv - (-17)) / (1 - exp((vv - (-17)) / 4.63))
    hBeta = 6.94e-6 * (vv - (-64.4)) / (1 - exp(-(vv - (-64.4)) / 2.63))
    hTau = (1 / (hAlpha + hBeta)) / qt
}
UNITSON
