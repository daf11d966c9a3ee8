: K_Tst -- transient (A-type) K+ current (Korngreen & Sakmann 2000; shifted -10 mV; Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 7.
:
:   ik = gK_Tstbar * m^4 * h * (v - ek)
:
: Rates are evaluated at u = v + 10 mV; time constants are divided by the
: constant qt = 2.3^((34-21)/10).

NEURON {
    SUFFIX K_Tst
    USEION k READ ek WRITE ik
    RANGE gK_Tstbar, gK_Tst, ik
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gK_Tstbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gK_Tst (S/cm2)
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
    gK_Tst = gK_Tstbar * m * m * m * m * h
    ik = gK_Tst * (v - ek)
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

: Rate formulas take v in mV and return ms (units not tracked here).
UNITSOFF
PROCEDURE rates(vm (mV)) {
    LOCAL qt, u
    qt = 2.3^((34 - 21) / 10)
    u = vm + 10    : -10 mV shift of the original kinetics
    mInf = 1 / (1 + exp(-(u + 0) / 19))
    mTau = (0.34 + 0.92 * exp(-((u + 71) / 59)^2)) / qt
    hInf = 1 / (1 + exp(-(u + 66) / (-10)))
    hTau = (8 + 49 * exp(-((u + 73) / 23)^2)) / qt
}
UNITSON
