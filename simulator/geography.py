"""Indonesian places: a table of real cities with coordinates, and distances between points.

Coordinates are city centres (WGS84, rounded); ``weight`` is roughly the city's population in
thousands and decides how many customers live there.

>>> CITIES[0].city, CITIES[0].province
('Jakarta', 'DKI Jakarta')
>>> round(distance_km(-6.2088, 106.8456, -7.2575, 112.7521))
663
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0
KM_PER_DEGREE = 111.32


@dataclass(frozen=True, slots=True)
class City:
    """A city: province, name, centre and a population weight."""

    province: str
    city: str
    lat: float
    long: float
    weight: int


CITIES: tuple[City, ...] = (
    City("DKI Jakarta", "Jakarta", -6.2088, 106.8456, 10560),
    City("Jawa Timur", "Surabaya", -7.2575, 112.7521, 2870),
    City("Jawa Barat", "Bekasi", -6.2383, 106.9756, 2540),
    City("Jawa Barat", "Bandung", -6.9175, 107.6191, 2450),
    City("Sumatera Utara", "Medan", 3.5952, 98.6722, 2440),
    City("Jawa Barat", "Depok", -6.4025, 106.7942, 2060),
    City("Banten", "Tangerang", -6.1783, 106.6319, 1900),
    City("Sumatera Selatan", "Palembang", -2.9761, 104.7754, 1670),
    City("Jawa Tengah", "Semarang", -6.9667, 110.4167, 1650),
    City("Sulawesi Selatan", "Makassar", -5.1477, 119.4327, 1420),
    City("Kepulauan Riau", "Batam", 1.0456, 104.0305, 1200),
    City("Lampung", "Bandar Lampung", -5.3971, 105.2668, 1170),
    City("Jawa Barat", "Bogor", -6.5950, 106.8166, 1040),
    City("Riau", "Pekanbaru", 0.5071, 101.4478, 980),
    City("Sumatera Barat", "Padang", -0.9471, 100.4172, 910),
    City("Jawa Timur", "Malang", -7.9666, 112.6326, 840),
    City("Kalimantan Timur", "Samarinda", -0.5022, 117.1536, 830),
    City("Bali", "Denpasar", -8.6705, 115.2126, 725),
    City("Jawa Barat", "Tasikmalaya", -7.3274, 108.2207, 720),
    City("Kalimantan Timur", "Balikpapan", -1.2379, 116.8529, 690),
    City("Banten", "Serang", -6.1200, 106.1503, 690),
    City("Kalimantan Selatan", "Banjarmasin", -3.3186, 114.5944, 660),
    City("Kalimantan Barat", "Pontianak", -0.0263, 109.3425, 660),
    City("Jambi", "Jambi", -1.6101, 103.6131, 610),
    City("Jawa Tengah", "Surakarta", -7.5755, 110.8243, 520),
    City("Sulawesi Utara", "Manado", 1.4748, 124.8421, 450),
    City("Nusa Tenggara Timur", "Kupang", -10.1772, 123.6070, 440),
    City("Nusa Tenggara Barat", "Mataram", -8.5833, 116.1167, 430),
    City("Papua", "Jayapura", -2.5337, 140.7181, 400),
    City("DI Yogyakarta", "Yogyakarta", -7.7956, 110.3695, 375),
    City("Bengkulu", "Bengkulu", -3.8004, 102.2655, 375),
    City("Sulawesi Tengah", "Palu", -0.8917, 119.8707, 370),
    City("Maluku", "Ambon", -3.6954, 128.1814, 350),
    City("Jawa Barat", "Sukabumi", -6.9277, 106.9300, 350),
    City("Sulawesi Tenggara", "Kendari", -3.9985, 122.5129, 345),
    City("Jawa Barat", "Cirebon", -6.7063, 108.5570, 335),
    City("Jawa Timur", "Jember", -8.1724, 113.7005, 330),
    City("Kalimantan Tengah", "Palangka Raya", -2.2161, 113.9135, 295),
    City("Jawa Timur", "Kediri", -7.8480, 112.0178, 290),
    City("Sulawesi Barat", "Mamuju", -2.6786, 118.8932, 290),
    City("Papua Barat Daya", "Sorong", -0.8762, 131.2558, 285),
    City("Jawa Tengah", "Tegal", -6.8694, 109.1402, 275),
    City("Sumatera Utara", "Pematangsiantar", 2.9595, 99.0687, 270),
    City("Aceh", "Banda Aceh", 5.5483, 95.3238, 250),
    City("Kalimantan Utara", "Tarakan", 3.3000, 117.6333, 240),
    City("Kepulauan Riau", "Tanjung Pinang", 0.9186, 104.4665, 230),
    City("Kepulauan Bangka Belitung", "Pangkal Pinang", -2.1316, 106.1169, 220),
    City("Maluku Utara", "Ternate", 0.7893, 127.3611, 205),
    City("Gorontalo", "Gorontalo", 0.5435, 123.0568, 200),
    City("Papua Barat", "Manokwari", -0.8615, 134.0620, 190),
)

# The shop's warehouses, by index into CITIES: shipment fees grow with the distance from the
# nearest one.
WAREHOUSES: tuple[int, ...] = (0, 1, 4, 9)


def distance_km(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle (haversine) distance between two points, in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def point_near(rng: random.Random, lat: float, long: float, km: float) -> tuple[float, float]:
    """A point scattered around (lat, long) with a spread of about ``km`` kilometres."""
    dlat = rng.gauss(0.0, km) / KM_PER_DEGREE
    dlong = rng.gauss(0.0, km) / (KM_PER_DEGREE * max(0.2, math.cos(math.radians(lat))))
    return lat + dlat, long + dlong


def nearest_warehouse_km(lat: float, long: float) -> float:
    """Distance from (lat, long) to the nearest warehouse, in kilometres."""
    return min(distance_km(lat, long, CITIES[i].lat, CITIES[i].long) for i in WAREHOUSES)
