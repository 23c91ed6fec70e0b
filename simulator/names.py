"""Indonesian given names and family names for synthetic customers.

The lists live here, not in a library, so that the same seed names the same people whatever is
installed.
"""

from __future__ import annotations

# fmt: off
MALE_NAMES: tuple[str, ...] = (
    "Budi", "Agus", "Andi", "Ahmad", "Bambang", "Dedi", "Eko", "Fajar", "Hendra", "Irfan",
    "Joko", "Rizky", "Yusuf", "Wahyu", "Arief", "Dimas", "Gilang", "Hadi", "Iwan", "Rudi",
    "Teguh", "Bayu", "Aditya", "Reza", "Fikri", "Rangga", "Surya", "Yoga", "Galih", "Ilham",
    "Kevin", "Rafi", "Dani", "Hafiz", "Taufik", "Yohanes", "Stefanus", "Made", "Ketut", "Wayan",
)
# fmt: on

# fmt: off
FEMALE_NAMES: tuple[str, ...] = (
    "Siti", "Dewi", "Sri", "Ayu", "Putri", "Rina", "Wulan", "Indah", "Fitri", "Nur",
    "Ratna", "Intan", "Maya", "Anisa", "Dian", "Yuni", "Wati", "Kartika", "Citra", "Nadia",
    "Rahma", "Ika", "Mega", "Laras", "Sari", "Tari", "Novi", "Melati", "Kirana", "Aulia",
    "Nabila", "Salsabila", "Zahra", "Bunga", "Cahya", "Elisabeth", "Maria", "Komang", "Luh",
    "Tiara",
)
# fmt: on

# fmt: off
FAMILY_NAMES: tuple[str, ...] = (
    "Santoso", "Wijaya", "Saputra", "Pratama", "Hidayat", "Nugroho", "Setiawan", "Kusuma",
    "Siregar", "Nasution", "Harahap", "Lubis", "Simanjuntak", "Sitompul", "Hutapea", "Gunawan",
    "Halim", "Tanjung", "Purnomo", "Susanto", "Wibowo", "Utomo", "Rahman", "Hakim",
    "Firmansyah", "Syahputra", "Permana", "Ramadhan", "Suryadi", "Kurniawan", "Hartono",
    "Sembiring", "Ginting", "Tarigan", "Manurung", "Situmorang", "Pangaribuan", "Wirawan",
    "Sulistyo", "Mahendra", "Anggraini", "Lestari", "Maharani", "Rahayu", "Handayani", "Puspita",
    "Wulandari", "Pohan", "Sinaga", "Batubara",
)
# fmt: on

# fmt: off
EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "gmail.com", "gmail.com", "yahoo.co.id", "yahoo.com", "hotmail.com",
    "outlook.com", "ymail.com",
)
# fmt: on
