: K_Pst -- persistent K+ current (Korngreen & Sakmann 2000; shifted -10 mV; Hay et al. 2011).
: Written for this project from /work/shared/spec/l5pc_mechanisms.md section 6.
:
:   ik = gK_Pstbar * m^2 * h * (v - ek)
:
: Rates are evaluated at u = v + 10 mV; time constants are divided by the
: constant qt = 2.3^((34-21)/10). mTau switches branch at u < -50 (strict).

NEURON {
    SUFFIX K_Pst
    USEION k READ ek WRITE ik
    RANGE gK_Pstbar, gK_Pst, ik
}

UNITS {
    (S) = (siemens)
    (mV) = (millivolt)
    (mA) = (milliamp)
}

PARAMETER {
    gK_Pstbar = 0.00001 (S/cm2)
}

ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    gK_Pst (S/cm2)
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
    gK_Pst = gK_Pstbar * m * m * h
    ik = gK_Pst * (v - ek)
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
    mInf = 1 / (1 + exp(-(u + 1) / 12))
    if (u < -50) {
        mTau = (1.25 + 175.03 * exp(-u * (-0.026))) / qt
    } else {
        mTau = (1.25 + 13 * exp(-u * 0.026)) / qt
    }
    hInf = 1 / (1 + exp(-(u + 54) / (-11)))
    hTau = (360 + (1010 + 24 * (u + 55)) * exp(-((u + 75) / 48)^2)) / qt
}
UNITSON
