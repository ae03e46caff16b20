"""Known equipment types: a stable code (what detectors, the simulator and point templates key
on) and a label in the catalogue. The ledger accepts other codes too; they show as entered."""

from __future__ import annotations

from plantguard.core.i18n import N_, gettext

EQUIPMENT_TYPES: dict[str, str] = {
    "stamping_press": N_("Stamping press"),
    "hydraulic_press": N_("Hydraulic press"),
    "blanking_line": N_("Blanking line"),
    "overhead_crane": N_("Overhead crane"),
    "handling_robot": N_("Handling robot"),
    "spot_welding_robot": N_("Spot-welding robot"),
    "arc_welding_robot": N_("Arc-welding robot"),
    "spot_welder": N_("Spot welder"),
    "laser_welder": N_("Laser welder"),
    "welding_machine": N_("Welding machine"),
    "fume_extractor": N_("Welding fume extractor"),
    "paint_booth": N_("Paint booth"),
    "paint_robot": N_("Painting robot"),
    "paint_mixing_system": N_("Paint mixing system"),
    "curing_oven": N_("Curing oven"),
    "pretreatment_ed": N_("Pretreatment and e-coat line"),
    "rto": N_("Regenerative thermal oxidiser (RTO)"),
    "air_handling_unit": N_("Air handling unit"),
    "exhaust_fan": N_("Exhaust fan"),
    "conveyor": N_("Conveyor"),
    "forklift": N_("Forklift"),
    "forklift_charger": N_("Forklift charger"),
    "air_compressor": N_("Air compressor"),
    "air_dryer": N_("Compressed-air dryer"),
    "air_receiver": N_("Air receiver (pressure vessel)"),
    "cooling_tower": N_("Cooling tower"),
    "pump": N_("Pump"),
    "fire_pump": N_("Fire pump"),
    "water_tank": N_("Water tank"),
    "storage_tank": N_("Storage tank"),
    "confined_space": N_("Confined space"),
    "sludge_scraper": N_("Sludge scraper"),
    "roots_blower": N_("Roots blower"),
    "dry_transformer": N_("Dry-type transformer"),
    "mv_switchgear": N_("Medium-voltage switchgear"),
    "lv_switchgear": N_("Low-voltage switchgear"),
    "capacitor_bank": N_("Capacitor bank"),
    "dc_panel": N_("DC power panel"),
    "gas_detection_system": N_("Gas detection system"),
    "hydrogen_detector": N_("Hydrogen detector"),
    "env_monitor": N_("Temperature and humidity transmitter"),
    "explosion_proof_ac": N_("Explosion-proof air conditioner"),
    "machine_tool": N_("Machine tool"),
    "grinder": N_("Grinder"),
    "die_flipper": N_("Die flipper"),
}


def type_label(code: str) -> str:
    """The type's name in the current language, or the code itself for an unknown type."""
    label = EQUIPMENT_TYPES.get(code)
    return gettext(label) if label else code
